#!/usr/bin/env bash
# CI's fuzz smoke: each fuzz target built with clang, libFuzzer, ASan and UBSan and run for
# FUZZ_SMOKE_SECONDS (default 60) from its committed seeds; any crash, leak or sanitizer
# report fails it (the input is left in tests/fuzz/crashes/). Skips (77) where clang cannot
# build a libFuzzer target. Builds go to FUZZ_SMOKE_DIR (meson's build dir), not the tree.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${FUZZ_SMOKE_SECONDS:-60}
dir=${FUZZ_SMOKE_DIR:-$(mktemp -d)}
mkdir -p "$dir"
if ! command -v clang >/dev/null ||
   ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
     clang -x c -fsanitize=fuzzer,address,undefined -o "$dir/probe" - 2>/dev/null; then
	echo "1..0 # SKIP clang cannot build a libFuzzer target here"
	exit 77
fi
n=0
rc=0
for target in netlink config; do
	n=$((n + 1))
	# A fresh scratch corpus each run, so a smoke is the committed seeds plus $secs of fuzzing.
	rm -rf "$dir/fuzz-$target/corpus"
	if FUZZ_OUT="$dir/fuzz-$target" "$here/run.sh" "$target" "$secs" >"$dir/fuzz-$target.log" 2>&1; then
		echo "ok $n - fuzz-$target: $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$dir/fuzz-$target.log")"
	else
		echo "not ok $n - fuzz-$target: see $dir/fuzz-$target.log"
		grep -E 'ERROR|SUMMARY|Test unit written' "$dir/fuzz-$target.log" | sed 's/^/# /' || true
		rc=1
	fi
done
echo "1..$n"
exit $rc
