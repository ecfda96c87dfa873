#!/bin/bash
# Executable images (issue 13): F@@/image/ of ELF and PE files, driven by
# ordinary tools, checked against readelf -SW / -lW (binutils) for ELF and
# pefile (Debian's python3-pefile, through tests/image/pe_oracle.py) for PE.
#
#   * F@@/image lists one view per section, named as the headers name them
#     (escaped: '/' '%' '#' as %XX), and "mapped"; F@@ lists "image" only
#     for images; a file that is no image, or whose headers are broken, has
#     no image entry (ENOENT) and the log says why once;
#   * a section view is exactly the section's bytes in the file, then zeros
#     to its virtual size; writable sections are rw windows (writes land in
#     the file, EFBIG past the section's file bytes), the others and those
#     with no bytes in the file refuse writes (EROFS);
#   * user.mapfs.section.* xattrs: flags, vaddr, offset, align, size;
#   * mapped: headers at 0, segments or sections at their virtual address
#     relative to the image base, zeros elsewhere, read-only;
#   * views follow the file: a write to F shows through the section views
#     and mapped at once, and a write to its headers renames a section.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3         # Debian's, where python3-pefile is
MKPE=("$PY" "$HERE/image/mkpe.py")
MKELF=("$PY" "$HERE/image/mkelf.py")
PEO=("$PY" "$HERE/image/pe_oracle.py")
command -v readelf >/dev/null || fail "readelf (binutils) is missing"
"$PY" -c 'import pefile' || fail "python3-pefile is missing"

B=$(mf_dir backing)
M=$(mf_dir mnt)

# An ELF file built here: code, read-only data, writable data, .bss.
cat >"$MF_T/prog.c" <<'C'
#include <stdio.h>
const char greeting[] = "hello from rodata";
int counter = 42;
static char scratch[8192];
int main(void) { scratch[0] = (char)counter; puts(greeting); return scratch[0] != 42; }
C
cc -O1 -o "$B/prog" "$MF_T/prog.c"
cp /bin/true "$B/true"
printf 'just text\n' >"$B/text"
"${MKPE[@]}" "$B/pe32.exe"
"${MKPE[@]}" "$B/pe64.exe" --plus
for c in $("${MKPE[@]}" --cases); do "${MKPE[@]}" "$B/badpe-$c.exe" --bad "$c"; done
for c in $("${MKELF[@]}" --cases); do "${MKELF[@]}" "$B/prog" "$B/badelf-$c" "$c"; done

check "mapfs --help tells of F@@/image"
"$MAPFS" --help | grep -q "F@@/image/SECTION and F@@/image/mapped" || fail "--help says nothing of F@@/image"

mf_mount "$B" "$M"
LOG=${MF_LOG_OF[$M]}

# The bytes [OFF, OFF+LEN) of FILE (decimal numbers).
bytes() { # FILE OFF LEN
	dd if="$1" bs=65536 skip="$2" count="$3" iflag=skip_bytes,count_bytes status=none
}
# All user.mapfs.* attributes of a view at once (one getfattr per view,
# not one per attribute: the sections are many), then one by name.
XATTRS=
xattrs() { # VIEW
	XATTRS=$(s getfattr --absolute-names -d -m user.mapfs "$1")
}
xv() { # NAME
	sed -n "s/^user\.mapfs\.$1=\"\(.*\)\"\$/\1/p" <<<"$XATTRS"
}
# readelf -SW as "NAME TYPE ADDR OFF SIZE FLAGS ALIGN" lines (hex but ALIGN).
sections() { # FILE
	readelf -SW "$1" | sed -n 's/^ *\[ *[0-9]*\] //p' | awk '$1 != "NULL" {
		# Flags may be empty ("-" then): field 7 is Lk.
		flags = NF == 10 ? $7 : "-"
		print $1, $2, $3, $4, $5, flags, $NF }'
}

# ---------------------------------------------------------------- ELF

for f in prog true; do
	check "$f: image/ lists readelf -S's sections and mapped; F@@ lists image"
	expect_eq "$(s ls "$M/$f@@" | tr '\n' ' ')" "cow image ro rw snap " "ls $f@@"
	want=$( (sections "$B/$f" | awk '{ print $1 }'; echo mapped) | sort | tr '\n' ' ')
	expect_eq "$(s ls -A "$M/$f@@/image" | sort | tr '\n' ' ')" "$want" "ls -A $f@@/image"

	check "$f: every section is its bytes at readelf's offset, .bss zeros; sizes and xattrs as readelf says"
	while read -r name type addr off size flags align; do
		v="$M/$f@@/image/$name"
		expect_eq "$(s stat -c %s "$v")" "$((16#$size))" "size of $f $name"
		if [ "$type" == NOBITS ]; then
			s cmp -s "$v" <(head -c "$((16#$size))" /dev/zero) || fail "$f $name does not read as zeros"
		else
			s cmp -s "$v" <(bytes "$B/$f" "$((16#$off))" "$((16#$size))") ||
				fail "$f $name differs from the file's bytes at 0x$off"
		fi
		xattrs "$v"
		expect_eq "$(xv section.vaddr)" "0x$(printf %x "$((16#$addr))")" "vaddr of $f $name"
		[ "$type" == NOBITS ] ||
			expect_eq "$(xv section.offset)" "0x$(printf %x "$((16#$off))")" "offset of $f $name"
		expect_eq "$(xv section.align)" "$align" "align of $f $name"
		# Writable (W in readelf's flags) with bytes in the file: rw.
		mode=ro
		[[ $flags == *W* && $type != NOBITS ]] && mode=rw
		expect_eq "$(xv mode)" "$mode" "mode of $f $name"
	done < <(sections "$B/$f")
	s cmp -s "$M/$f@@/image/.text" <(objcopy -O binary --only-section=.text "$B/$f" /dev/stdout) ||
		fail "$f .text differs from objcopy --only-section=.text"
	[ "$(s getfattr --only-values -n user.mapfs.section.flags "$M/$f@@/image/.text")" == 0x6 ] ||
		fail ".text flags are not SHF_ALLOC|SHF_EXECINSTR"

	check "$f: mapped is the PT_LOAD segments at their addresses, zeros elsewhere (readelf -l)"
	loads=$(readelf -lW "$B/$f" | awk '$1 == "LOAD" { print $2, $3, $5, $6 }')
	base=$(awk 'NR == 1 { print $2 }' <<<"$loads")
	base=$(( 16#${base#0x} & ~4095 ))
	end=0
	while read -r off va fsz msz; do
		((va + msz > end)) && end=$((va + msz))
	done <<<"$loads"
	expect_eq "$(s stat -c %s "$M/$f@@/image/mapped")" "$((end - base))" "size of $f mapped"
	s cp "$M/$f@@/image/mapped" "$MF_T/mapped"
	{
		head -c $((end - base)) /dev/zero >"$MF_T/want"
		while read -r off va fsz msz; do
			bytes "$B/$f" $((off)) $((fsz)) |
				dd of="$MF_T/want" bs=65536 seek=$((va - base)) oflag=seek_bytes conv=notrunc status=none
		done <<<"$loads"
	}
	cmp "$MF_T/mapped" "$MF_T/want" || fail "$f mapped differs from its segments laid out"
	[ "$(head -c 4 "$MF_T/mapped" | od -An -c | tr -d ' ')" == '177ELF' ] || fail "$f mapped does not start with the ELF header"
done

check "the program built here still runs from the mount, and its .rodata holds its string"
expect_eq "$(s "$M/prog")" "hello from rodata" "running prog through the mount"
s grep -q "hello from rodata" "$M/prog@@/image/.rodata" || fail ".rodata lacks the string"

check "read-only sections and .bss refuse writes (EROFS); .data is an rw window (EFBIG past it)"
for n in .text .rodata .bss; do
	expect_err "Read-only file system" dd if=/dev/zero of="$M/prog@@/image/$n" bs=1 count=1 conv=notrunc status=none
done
cp "$B/prog" "$MF_T/prog.before"
cmp -s "$B/prog" "$MF_T/prog.before" || fail "setup"
read -r _ _ _ doff dsize _ _ < <(sections "$B/prog" | awk '$1 == ".data"')
s sh -c 'printf "DATA" | dd of="$1" bs=1 seek=4 conv=notrunc status=none' sh "$M/prog@@/image/.data"
expect_eq "$(bytes "$B/prog" $((16#$doff + 4)) 4)" DATA "the file's bytes written through .data"
expect_err "File too large" sh -c 'head -c 8 /dev/zero | dd of="$1" bs=8 seek=$2 oflag=seek_bytes conv=notrunc status=none' sh \
	"$M/prog@@/image/.data" $((16#$dsize - 4))
expect_eq "$(bytes "$B/prog" $((16#$doff + 16#$dsize - 4)) 4 | od -An -tx1 | tr -d ' ')" \
	"$(bytes "$MF_T/prog.before" $((16#$doff + 16#$dsize - 4)) 4 | od -An -tx1 | tr -d ' ')" \
	"bytes at the end of .data after a refused write"
expect_err "Read-only file system" dd if=/dev/zero of="$M/prog@@/image/mapped" bs=1 count=1 conv=notrunc status=none
expect_err "Operation not permitted" truncate -s 0 "$M/prog@@/image/.data"
expect_err "Operation not permitted" touch "$M/prog@@/image/new"

check "views follow the file: a write to F shows through its section and in mapped"
read -r _ _ raddr roff _ _ _ < <(sections "$B/prog" | awk '$1 == ".rodata"')
s sh -c 'printf "CHANGED" | dd of="$1" bs=1 seek=$2 conv=notrunc status=none' sh "$M/prog" $((16#$roff))
expect_eq "$(s head -c 7 "$M/prog@@/image/.rodata")" CHANGED ".rodata after a write to the file"
base=$(readelf -lW "$B/prog" | awk '$1 == "LOAD" { print $3; exit }')
expect_eq "$(s dd if="$M/prog@@/image/mapped" bs=1 skip=$((16#$raddr - (base & ~4095))) count=7 status=none)" \
	CHANGED "mapped after a write to the file"

check "a write to the headers is seen: renaming .comment in .shstrtab renames its view"
read -r _ _ _ soff ssize _ _ < <(sections "$B/prog" | awk '$1 == ".shstrtab"')
at=$(grep -boa '\.comment' <(bytes "$B/prog" $((16#$soff)) $((16#$ssize))) | head -1 | cut -d: -f1)
s stat "$M/prog@@/image/.comment" >/dev/null
s sh -c 'printf ".cXmment" | dd of="$1" bs=1 seek=$2 conv=notrunc status=none' sh "$M/prog" $((16#$soff + at))
s stat "$M/prog@@/image/.cXmment" >/dev/null || fail ".cXmment not found after the header write"
expect_err "No such file or directory" stat "$M/prog@@/image/.comment"

check "a write to the headers in the same clock tick as the parse before it is seen too"
# The mount stamps mtime at most once per tick of the coarse clock, so a
# header write right after a lookup may leave size and mtime as the parse
# saw them. Rename the section back and forth within a few milliseconds;
# count the rounds where the mtime did not move, to know the case was met.
same=$(s "$PY" - "$M/prog" $((16#$soff + at)) <<'PY'
import os, sys
path, at = sys.argv[1], int(sys.argv[2])
names = [b".cXmment", b".cYmment"]
same = 0
fd = os.open(path, os.O_WRONLY)
for i in range(50):
    old, new = names[i % 2], names[(i + 1) % 2]
    os.stat(path + "@@/image/" + old.decode())     # parsed, cached
    m0 = os.stat(path).st_mtime_ns
    os.pwrite(fd, new, at)
    m1 = os.stat(path).st_mtime_ns
    try:
        os.stat(path + "@@/image/" + new.decode())
    except FileNotFoundError:
        sys.exit("round %d: %s not found after the header write (mtime %s)"
                 % (i, new.decode(), "unchanged" if m0 == m1 else "changed"))
    same += m0 == m1
print(same)
PY
) || fail "a header write was not seen: $same"
echo "    rounds with the mtime unchanged by the header write: $same of 50"

# ---------------------------------------------------------------- PE

for f in pe32.exe pe64.exe; do
	check "$f: image/ lists pefile's sections (escaped) and mapped, with their sizes and modes"
	"${PEO[@]}" list "$B/$f" >"$MF_T/pelist"
	want=$( (awk '{ n = $1; gsub("%", "%25", n); gsub("/", "%2F", n); gsub("#", "%23", n); print n }' "$MF_T/pelist"; echo mapped) | sort | tr '\n' ' ')
	expect_eq "$(s ls -A "$M/$f@@/image" | sort | tr '\n' ' ')" "$want" "ls -A $f@@/image"
	i=0
	while read -r name w off raw size va flags; do
		i=$((i + 1))
		v="$M/$f@@/image/${name//\//%2F}"
		expect_eq "$(s stat -c %s "$v")" "$((16#$size))" "size of $f $name"
		"${PEO[@]}" section "$B/$f" "$i" >"$MF_T/sect"
		s cmp -s <(head -c "$((16#$raw))" "$v") "$MF_T/sect" || fail "$f $name differs from pefile's get_data()"
		s cmp -s <(tail -c +"$((16#$raw + 1))" "$v") <(head -c "$((16#$size - 16#$raw))" /dev/zero) ||
			fail "$f $name: its tail past the raw data is not zeros"
		xattrs "$v"
		expect_eq "$(xv section.vaddr)" "0x$va" "vaddr of $f $name"
		expect_eq "$(xv section.flags)" "0x$flags" "flags of $f $name"
		mode=ro
		[ "$w" == 1 ] && [ "$raw" != 0 ] && mode=rw
		expect_eq "$(xv mode)" "$mode" "mode of $f $name"
	done <"$MF_T/pelist"

	check "$f: mapped is SizeOfImage bytes laid out as the loader does"
	s cmp "$M/$f@@/image/mapped" <("${PEO[@]}" mapped "$B/$f") || fail "$f mapped differs from pefile's layout"
done

check "PE: .data writes land in the file within its raw bytes, EFBIG in its zero tail; .bss EROFS"
s sh -c 'printf "pe!" | dd of="$1" conv=notrunc status=none' sh "$M/pe32.exe@@/image/.data"
expect_eq "$(bytes "$B/pe32.exe" $((0xa00)) 3)" "pe!" "pe32.exe bytes written through .data"
expect_err "File too large" sh -c 'printf x | dd of="$1" bs=1 seek=$((0x200)) conv=notrunc status=none' sh \
	"$M/pe32.exe@@/image/.data"
expect_err "Read-only file system" dd if=/dev/zero of="$M/pe32.exe@@/image/.bss" bs=1 count=1 conv=notrunc status=none
expect_err "Read-only file system" dd if=/dev/zero of="$M/pe32.exe@@/image/.text" bs=1 count=1 conv=notrunc status=none

# ---------------------------------------------------------- not images

check "a text file has no image: F@@ does not list it, lookups are ENOENT, the log says why once"
expect_eq "$(s ls "$M/text@@" | tr '\n' ' ')" "cow ro rw snap " "ls text@@"
expect_err "No such file or directory" ls "$M/text@@/image"
expect_err "No such file or directory" stat "$M/text@@/image/mapped"
expect_eq "$(grep -c "text: no image view: neither ELF nor PE" "$LOG" || true)" 1 "log lines about text"

check "broken headers (mkpe.py, mkelf.py cases): no image entry, the reason logged, the daemon unhurt"
for f in "$B"/badpe-* "$B"/badelf-*; do
	n=${f##*/}
	expect_err "No such file or directory" stat "$M/$n@@/image"
	expect_eq "$(s ls "$M/$n@@" | tr '\n' ' ')" "cow ro rw snap " "ls $n@@"
	grep -q "$n: no image view: " "$LOG" || fail "no log line saying why $n is no image"
	s cmp -s "$M/$n" "$f" || fail "$n reads differently through the mount"
done
grep -q "badpe-nsections.exe: no image view: NumberOfSections 65535" "$LOG" || fail "log of badpe-nsections"
grep -q "badelf-shoff: no image view: section header table past the end" "$LOG" || fail "log of badelf-shoff"
mf_alive "$M"

mf_umount "$M"
echo "PASS"
