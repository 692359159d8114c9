#!/usr/bin/env bash
# Hostile configuration files: `steerd --check FILE` on a 10 MB file, 10,000 levels of
# nesting, an alias bomb, binary junk, NUL bytes, a 1 MB line, a directory, a FIFO and more.
# Each must be refused (exit 1) with one line on stderr that names the file and what is
# wrong, within a second and 64 MiB. Needs no root and no network namespace.
#
# Why 64 MiB: steerd --check starts at about 3.5 MiB, and a file is at most 1 MiB read into at
# most 100,000 values. The most memory a file here takes is 23 MiB (14,000 groups: their
# nodes, plus struct model_group's 700 bytes each); 64 MiB leaves about 3x for other
# allocators and libraries, and still fails what grows with its input rather than with those
# caps (an alias bomb expanded, or the value cap gone: 500,000 nodes from 1 MiB). The 10 MB
# file must also stay under 10 MiB: it is refused by its size, never read.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STEERD=${STEERD:-$ROOT/build/agent/steerd}
MAX_SECONDS=1.0
MAX_KIB=$((64 * 1024))

n=0
fails=0
ok() { n=$((n + 1)); printf 'ok %d - %s\n' "$n" "$*"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); printf 'not ok %d - %s\n' "$n" "$*"; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else not_ok "$desc"; fi; }

tmp=$(mktemp -d /tmp/steer-hostile-yaml.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# measure FILE: runs steerd --check FILE; sets rc, secs, kib, and leaves its stdout and stderr
# in $tmp/out and $tmp/err. /usr/bin/time when there is one, python3's rusage otherwise.
measure() {
	local file=$1
	if [ -x /usr/bin/time ]; then
		rc=0
		/usr/bin/time -f '%e %M' -o "$tmp/time" "$STEERD" --check "$file" >"$tmp/out" 2>"$tmp/err" || rc=$?
		# GNU time puts "Command exited with non-zero status N" first.
		read -r secs kib < <(tail -n 1 "$tmp/time")
	else
		read -r rc secs kib < <(python3 - "$STEERD" "$file" "$tmp/out" "$tmp/err" <<-'PY'
			import resource, subprocess, sys, time
			t = time.monotonic()
			with open(sys.argv[3], 'wb') as o, open(sys.argv[4], 'wb') as e:
			    rc = subprocess.call([sys.argv[1], '--check', sys.argv[2]], stdout=o, stderr=e)
			print(rc, '%.2f' % (time.monotonic() - t), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
		PY
		)
	fi
}

# refused NAME FILE PATTERN: exit 1, one line on stderr starting with the file's name and
# matching PATTERN (an extended regex for what is wrong), in time and memory.
refused() {
	local name=$1 file=$2 pattern=$3 line lines
	measure "$file"
	lines=$(wc -l <"$tmp/err")
	line=$(head -n 1 "$tmp/err")
	printf '# %s: exit %s, %s s, %s KiB: %s\n' "$name" "$rc" "$secs" "$kib" "${line:0:200}"
	check "$name: exit status 1" test "$rc" -eq 1
	if [ "$lines" -eq 1 ] && [[ $line == "$file"* ]] && [[ ${line#"$file"} =~ $pattern ]]; then
		ok "$name: one line naming the file and what is wrong"
	else
		not_ok "$name: one line naming the file and what is wrong ($lines lines)"
	fi
	within "$name"
}

within() {
	check "$1: within ${MAX_SECONDS} s ($secs s)" awk -v s="$secs" -v m="$MAX_SECONDS" 'BEGIN { exit !(s < m) }'
	check "$1: within $((MAX_KIB / 1024)) MiB ($((kib / 1024)) MiB)" test "$kib" -lt "$MAX_KIB"
}

[ -x "$STEERD" ] || { echo "1..0 # SKIP no steerd at $STEERD"; exit 0; }

# 10 MB of plausible policies: refused by its size before it is read.
python3 -c "import sys; sys.stdout.write('policies:\n' + '  - {priority: 1, blackhole: true}\n' * 285714)" \
	>"$tmp/big.yaml"
size=$(stat -c %s "$tmp/big.yaml")
refused "10 MB file" "$tmp/big.yaml" "^: $size bytes; a steer configuration is at most 1048576$"
check "10 MB file: refused unread ($kib KiB)" test "$kib" -lt 10240

# 10,000 levels of nesting, as flow lists, flow mappings and (1,000 levels) block mappings.
python3 - "$tmp" <<'PY'
import sys
d = sys.argv[1]
open(f'{d}/deep-list.yaml', 'w').write('[' * 10000 + ']' * 10000 + '\n')
open(f'{d}/deep-map.yaml', 'w').write('{a: ' * 10000 + '1' + '}' * 10000 + '\n')
open(f'{d}/deep-block.yaml', 'w').write(''.join(' ' * i + 'a:\n' for i in range(1000)))
PY
refused "10,000 nested lists" "$tmp/deep-list.yaml" "^:1:17: nested deeper than 16 levels"
refused "10,000 nested mappings" "$tmp/deep-map.yaml" "^:1:65: nested deeper than 16 levels"
refused "1,000 nested block mappings" "$tmp/deep-block.yaml" "^:17:17: nested deeper than 16 levels"

# The billion laughs: nine levels of nine aliases each would expand to 10^9 strings.
{
	echo 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'
	prev=a
	for l in b c d e f g h i; do
		printf '%s: &%s [' "$l" "$l"
		for k in 1 2 3 4 5 6 7 8; do printf '*%s,' "$prev"; done
		printf '*%s]\n' "$prev"
		prev=$l
	done
} >"$tmp/laughs.yaml"
refused "billion laughs" "$tmp/laughs.yaml" "^:1:4: anchors \(&name\) are not supported"
# The same bomb's aliases alone (no anchor is ever defined).
sed 's/&[a-i] //' "$tmp/laughs.yaml" >"$tmp/aliases.yaml"
refused "aliases without anchors" "$tmp/aliases.yaml" "^:2:5: aliases \(\*name\) are not supported"

# Binary junk: 1 MiB of random bytes (exactly the size limit, so it is parsed).
head -c 1M /dev/urandom >"$tmp/junk.bin"
refused "1 MiB of random bytes" "$tmp/junk.bin" "^:[0-9]+:[0-9]+: (not valid YAML: |.*(expected|unknown|more than))"

# NUL bytes: inside a file, and a file of nothing else.
printf 'interfaces:\n  eth0:\nlog-level: de\0bug\n' >"$tmp/nul.yaml"
refused "a NUL byte" "$tmp/nul.yaml" "^:3:14: not valid YAML: control characters are not allowed \(0x00\)$"
head -c 65536 /dev/zero >"$tmp/zeros.yaml"
refused "64 KiB of NUL bytes" "$tmp/zeros.yaml" "^:1:1: not valid YAML: control characters are not allowed \(0x00\)$"

# A 1 MB line: a value; a plain key (YAML allows 1024 characters for an implicit key); and an
# explicit `? ` key, named in a message cut to fit, still one line.
{ printf 'log-level: '; head -c 1000000 /dev/zero | tr '\0' a; echo; } >"$tmp/long-value.yaml"
refused "a 1 MB value" "$tmp/long-value.yaml" "^:1:12: log-level: expected err, warning, notice, info or debug$"
{ head -c 1000000 /dev/zero | tr '\0' k; echo ': 1'; } >"$tmp/long-key.yaml"
refused "a 1 MB plain key" "$tmp/long-key.yaml" "^:1:1000001: not valid YAML: mapping values are not allowed in this context$"
{ printf '? '; head -c 1000000 /dev/zero | tr '\0' k; printf '\n: 1\n'; } >"$tmp/long-key2.yaml"
refused "a 1 MB explicit key" "$tmp/long-key2.yaml" "^:1:3: k{64}\\.\\.\\.: unknown key in the top level \\(expected one of: interfaces, .*\\)$"

# 150,000 values in one list: more than any configuration has.
python3 -c "import sys; sys.stdout.write('x: [' + '1,' * 150000 + '1]\n')" >"$tmp/wide.yaml"
refused "150,000 values" "$tmp/wide.yaml" "^:1:[0-9]+: more than 100000 values"

# As many groups as the value limit allows, the last repeating the first: found by sorting,
# not 10^8 compares.
python3 - "$tmp/groups.yaml" <<'PY'
import sys
with open(sys.argv[1], 'w') as f:
    f.write('groups:\n')
    for i in range(14000):
        f.write(f'  g{i}: {{nexthops: [{{dev: a}}]}}\n')
    f.write('  g0: {nexthops: [{dev: b}]}\n')
PY
refused "14,000 groups, one repeated" "$tmp/groups.yaml" "^:14002:3: g0: group defined twice \(first at line 2\)$"

# Not files.
mkdir "$tmp/dir.yaml"
refused "a directory" "$tmp/dir.yaml" "^: not a regular file$"
mkfifo "$tmp/fifo.yaml"
refused "a FIFO with no writer" "$tmp/fifo.yaml" "^: not a regular file$"
refused "a missing file" "$tmp/missing.yaml" "^: No such file or directory$"

# An empty file is valid: the defaults.
: >"$tmp/empty.yaml"
measure "$tmp/empty.yaml"
printf '# empty file: exit %s, %s s, %s KiB: %s\n' "$rc" "$secs" "$kib" "$(head -n 1 "$tmp/out")"
check "empty file: valid (exit 0)" test "$rc" -eq 0
check "empty file: says so" grep -q "^$tmp/empty.yaml: valid: 0 interfaces, 0 policies, 0 groups$" "$tmp/out"
within "empty file"

echo "1..$n"
[ "$fails" -eq 0 ]
