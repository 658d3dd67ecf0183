#!/bin/sh
# Run one libFuzzer target of make fuzz (fuzz/fuzz.mk) from its seed corpus:
#   fuzz/run-target.sh FUZZ_DIR SECONDS TARGET
# New inputs go to FUZZ_DIR/corpus/TARGET, crashes to FUZZ_DIR/artifacts/,
# the fuzzer's output to FUZZ_DIR/TARGET.log. -timeout: one input taking
# over 10 s is a hang; -rss_limit_mb bounds memory.
set -u
dir=$1 secs=$2 t=$3
mkdir -p "$dir/corpus/$t" "$dir/artifacts"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$dir/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$t-" "$dir/corpus/$t" "fuzz/corpus/$t" 2>"$dir/$t.log"
