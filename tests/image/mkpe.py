#!/usr/bin/env python3
"""Make small PE files for the image tests: no compiler needed.

mkpe.py OUT [--plus] [--bad CASE]

A DOS header, the PE signature, a COFF header, an optional header (PE32,
or PE32+ with --plus) and four sections, each filled with a pattern of its
own so that a byte read from the wrong place shows:
  .text   code, read-only        raw 0x400, virtual 0x321
  .rdata  read-only data         raw 0x200, virtual 0x200
  .data   writable, tail zeros   raw 0x200, virtual 0x900
  .bss    writable, no raw data  raw 0,     virtual 0x500
  /4      a COFF long name (as mingw writes): shown escaped
--bad CASE breaks the headers as a bad-input test needs (CASES below).
"""
import struct
import sys

FILE_ALIGN = 0x200
SECT_ALIGN = 0x1000
HEADERS = 0x400

# name, characteristics, raw size, virtual size
SECTIONS = [
    (b".text", 0x60000020, 0x400, 0x321),
    (b".rdata", 0x40000040, 0x200, 0x200),
    (b".data", 0xC0000040, 0x200, 0x900),
    (b".bss", 0xC0000080, 0, 0x500),
    (b"/4", 0x42000040, 0x200, 0x10),
]

CASES = [
    "truncated",        # the file ends inside the optional header
    "lfanew",           # e_lfanew points past the end of the file
    "signature",        # no "PE\0\0" where e_lfanew points
    "magic",            # optional header magic neither PE32 nor PE32+
    "nsections",        # NumberOfSections absurd (0xffff)
    "table",            # section table runs past the end of the file
    "rawptr",           # a section's raw data pointer past the end
    "rawsize",          # a section's raw size runs past the end
    "overlap",          # two sections' raw data overlap in the file
    "vaoverlap",        # two sections overlap in memory
    "sizeofimage",      # a section ends past SizeOfImage (overflowing)
    "headers",          # SizeOfHeaders past the end of the file
    "optsize",          # SizeOfOptionalHeader too small for its fields
]


def pattern(seed, n):
    return bytes((seed * 37 + i * 7 + (i >> 8)) & 0xFF for i in range(n))


def build(plus, bad=None):
    lfanew = 0x80
    nsect = len(SECTIONS)
    opt_size = 240 if plus else 224
    table = lfanew + 24 + opt_size
    # Raw data after the headers, virtual addresses one page apart.
    raw_at, va = HEADERS, SECT_ALIGN
    rows = []
    for name, chars, raw, vsize in SECTIONS:
        ptr = raw_at if raw else 0
        rows.append([name, vsize, va, raw, ptr, chars])
        raw_at += raw
        va += (max(vsize, raw) + SECT_ALIGN - 1) // SECT_ALIGN * SECT_ALIGN
    size_of_image = va
    size_of_headers = HEADERS

    if bad == "rawptr":
        rows[1][4] = raw_at + 0x10000
    if bad == "rawsize":
        rows[2][3] = 0x10000
    if bad == "overlap":
        rows[1][4] = rows[0][4] + 0x100
    if bad == "vaoverlap":
        rows[2][2] = rows[1][2] + 0x100
    if bad == "sizeofimage":
        rows[0][1] = 0xFFFFFFF0
    if bad == "headers":
        size_of_headers = 0x100000

    dos = bytearray(0x80)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x7FFFFFF0 if bad == "lfanew" else lfanew)
    coff = struct.pack("<HHIIIHH", 0x8664 if plus else 0x14C,
                       0xFFFF if bad == "nsections" else nsect,
                       0, 0, 0, 0x40 if bad == "optsize" else opt_size,
                       0x0022)
    magic = 0x20B if plus else 0x10B
    if bad == "magic":
        magic = 0x999
    if plus:
        opt = struct.pack("<HBBIIIIIQIIHHHHHHIIIIHHQQQQII", magic, 14, 0,
                          0x400, 0x700, 0x500, 0x1000, 0x1000,
                          0x140000000, SECT_ALIGN, FILE_ALIGN, 6, 0, 0, 0,
                          6, 0, 0, size_of_image, size_of_headers, 0, 3,
                          0x8160, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    else:
        opt = struct.pack("<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII", magic, 14, 0,
                          0x400, 0x700, 0x500, 0x1000, 0x1000, 0x2000,
                          0x400000, SECT_ALIGN, FILE_ALIGN, 6, 0, 0, 0,
                          6, 0, 0, size_of_image, size_of_headers, 0, 3,
                          0x8140, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    opt += bytes(opt_size - len(opt))       # the 16 data directories
    sig = b"PE\0\0" if bad != "signature" else b"XX\0\0"
    head = bytearray(bytes(dos) + sig + coff + opt)
    assert len(head) == table
    for name, vsize, va, raw, ptr, chars in rows:
        head += struct.pack("<8sIIIIIIHHI", name, vsize, va, raw, ptr,
                            0, 0, 0, 0, chars)
    head += bytes(HEADERS - len(head))
    out = bytearray(head)
    for i, (name, chars, raw, vsize) in enumerate(SECTIONS):
        out += pattern(i + 1, raw)
    if bad == "truncated":
        out = out[:lfanew + 24 + 40]
    if bad == "table":
        out = out[:table + 40 * 2]
    return bytes(out)


def main():
    args = sys.argv[1:]
    plus = "--plus" in args
    bad = args[args.index("--bad") + 1] if "--bad" in args else None
    if bad is not None and bad not in CASES:
        sys.exit("mkpe: unknown case %s; cases: %s" % (bad, " ".join(CASES)))
    if "--cases" in args:
        print(" ".join(CASES))
        return
    with open(args[0], "wb") as f:
        f.write(build(plus, bad))


if __name__ == "__main__":
    main()
