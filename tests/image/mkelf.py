#!/usr/bin/env python3
"""Break the headers of an ELF file (64-bit, little-endian) for the image
tests' bad-input cases.

mkelf.py IN OUT CASE      write IN with its headers broken as CASE says
mkelf.py --cases          list the cases
"""
import struct
import sys

CASES = [
    "truncated",    # the file ends inside the ELF header
    "shoff",        # e_shoff past the end of the file
    "shnum",        # e_shnum absurd: the table runs past the end
    "shentsize",    # section header entries of a size no class has
    "shstrndx",     # the section name table index past the table
    "secoff",       # a section's bytes start past the end of the file
    "secsize",      # a section's size runs past the end (and overflows)
    "overlap",      # two sections' bytes overlap in the file
    "name",         # a section name outside the name table
    "phoff",        # e_phoff past the end of the file
    "segment",      # a loadable segment's bytes past the end of the file
    "memsz",        # a segment with p_filesz > p_memsz
]


def sections(d):
    shoff, = struct.unpack_from("<Q", d, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", d, 0x3A)
    return [shoff + i * shentsize for i in range(shnum)]


def progbits(d):
    """Offsets of the headers of sections with bytes in the file."""
    out = []
    for h in sections(d)[1:]:
        typ, = struct.unpack_from("<I", d, h + 4)
        size, = struct.unpack_from("<Q", d, h + 0x20)
        if typ != 8 and size > 0:       # not SHT_NOBITS
            out.append(h)
    return out


def loads(d):
    phoff, = struct.unpack_from("<Q", d, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", d, 0x36)
    return [phoff + i * phentsize for i in range(phnum)
            if struct.unpack_from("<I", d, phoff + i * phentsize)[0] == 1]


def brk(d, case):
    size = len(d)
    if case == "truncated":
        return d[:40]
    if case == "shoff":
        struct.pack_into("<Q", d, 0x28, size + 0x1000)
    elif case == "shnum":
        struct.pack_into("<H", d, 0x3C, 0xFFF0)
    elif case == "shentsize":
        struct.pack_into("<H", d, 0x3A, 10)
    elif case == "shstrndx":
        struct.pack_into("<H", d, 0x3E, 0xFF00)
    elif case == "secoff":
        struct.pack_into("<Q", d, progbits(d)[0] + 0x18, size + 16)
    elif case == "secsize":
        struct.pack_into("<Q", d, progbits(d)[0] + 0x20, 1 << 63)
    elif case == "overlap":
        a, b = progbits(d)[:2]
        off, = struct.unpack_from("<Q", d, a + 0x18)
        struct.pack_into("<Q", d, b + 0x18, off)
    elif case == "name":
        struct.pack_into("<I", d, progbits(d)[0], 0xFFFFFF)
    elif case == "phoff":
        struct.pack_into("<Q", d, 0x20, size + 0x1000)
    elif case == "segment":
        struct.pack_into("<Q", d, loads(d)[0] + 0x20, size + 0x1000)
    elif case == "memsz":
        h = loads(d)[0]
        filesz, = struct.unpack_from("<Q", d, h + 0x20)
        struct.pack_into("<Q", d, h + 0x28, filesz - 1)
    return d


def main():
    if sys.argv[1:] == ["--cases"]:
        print(" ".join(CASES))
        return
    src, out, case = sys.argv[1:4]
    if case not in CASES:
        sys.exit("mkelf: unknown case %s; cases: %s" % (case, " ".join(CASES)))
    d = bytearray(open(src, "rb").read())
    if d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
        sys.exit("mkelf: %s is not a 64-bit little-endian ELF file" % src)
    with open(out, "wb") as f:
        f.write(brk(d, case))


if __name__ == "__main__":
    main()
