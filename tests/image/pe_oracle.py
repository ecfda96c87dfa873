#!/usr/bin/env python3
"""What pefile (Debian's python3-pefile) makes of a PE file: the oracle of
the image tests.

pe_oracle.py list FILE      one line per section: NAME WRITABLE OFFSET
                            RAWSIZE VIEWSIZE VADDR FLAGS, numbers in hex
pe_oracle.py section FILE N the raw bytes of section N (1-based), to stdout
pe_oracle.py mapped FILE    the image as the loader maps it, SizeOfImage
                            bytes, to stdout
A file pefile refuses exits 1.
"""
import sys

import pefile


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    try:
        pe = pefile.PE(path, fast_load=True)
    except pefile.PEFormatError as e:
        sys.exit("pefile: %s" % e)
    base = pe.OPTIONAL_HEADER.ImageBase
    if cmd == "list":
        for s in pe.sections:
            name = s.Name.split(b"\0")[0].decode("latin-1")
            vsize = s.Misc_VirtualSize or s.SizeOfRawData
            print("%s %d %x %x %x %x %x" % (
                name, bool(s.Characteristics & 0x80000000),
                s.PointerToRawData if s.SizeOfRawData else 0,
                s.SizeOfRawData, max(vsize, s.SizeOfRawData),
                base + s.VirtualAddress, s.Characteristics))
    elif cmd == "section":
        s = pe.sections[int(sys.argv[3]) - 1]
        sys.stdout.buffer.write(s.get_data())
    elif cmd == "mapped":
        # pefile's get_memory_mapped_image() starts from the whole file,
        # not from zeros as the loader does: lay it out from pefile's
        # fields instead. Headers, then each section's raw bytes up to
        # its virtual size.
        data = pe.__data__
        img = bytearray(pe.OPTIONAL_HEADER.SizeOfImage)
        head = pe.OPTIONAL_HEADER.SizeOfHeaders
        img[0:head] = data[0:head]
        for s in pe.sections:
            n = min(s.SizeOfRawData, s.Misc_VirtualSize or s.SizeOfRawData)
            va, ptr = s.VirtualAddress, s.PointerToRawData
            img[va:va + n] = data[ptr:ptr + n]
        sys.stdout.buffer.write(bytes(img))


if __name__ == "__main__":
    main()
