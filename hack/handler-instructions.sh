#!/usr/bin/env bash
# Counts the CPU instructions per answer of the verifier's HTTP handlers in
# process: BenchmarkAuthHandler's sub-benchmarks (internal/verifier/http_bench_test.go:
# the constant-200 handler, /v1/verify, /v1/auth, /v1/auth with every key
# rate-limited) under valgrind's callgrind, collecting inside serveEach only.
# Instruction counts do not depend on the machine's load, where timings on a
# shared machine move by ±10 %; SHA-256 costs more instructions here than on
# a CPU with SHA extensions (valgrind emulates none).
#
# A developer tool, not run by CI. Needs go and valgrind (callgrind); about
# a minute per handler.
#
# Usage: hack/handler-instructions.sh [handler...]   (default: all four)
# Environment: KEYS (index size, default 5000), N (answers, default 20000),
# OUT (a directory to keep the callgrind files in, for callgrind_annotate).
#
# Each handler runs twice, N and 2N answers; the figure is the difference
# over N, so the first answers' one-off work (the limiter's state of a
# key it has not seen) and the benchmark's start do not count.
set -euo pipefail
cd "$(dirname "$0")/.."

keys=${KEYS:-5000}
n=${N:-20000}
handlers=("$@")
[ ${#handlers[@]} -gt 0 ] || handlers=(constant verify auth auth+limit)
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=${OUT:-$tmp}
mkdir -p "$out"
go test -c -o "$tmp/verifier.test" ./internal/verifier

# count HANDLER ANSWERS prints the instructions collected in serveEach and
# the benchmark's allocations per answer.
count() {
	local log="$tmp/log" file="$out/callgrind.$1.$2"
	GOGC=off GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind \
		--callgrind-out-file="$file" --toggle-collect='*verifier.serveEach' \
		"$tmp/verifier.test" -test.run '^$' -test.bench "^BenchmarkAuthHandler\$/^${1//+/\\+}\$" \
		-test.benchtime "${2}x" -test.benchmem -handler-keys "$keys" >"$log" 2>&1 || { cat "$log" >&2; return 1; }
	local ir allocs
	ir=$(awk '/Collected :/ { gsub(",", "", $4); print $4 }' "$log")
	allocs=$(grep -o '[0-9]* allocs/op' "$log" | cut -d' ' -f1)
	if [ -z "$ir" ] || [ "$ir" -eq 0 ]; then
		echo "no instructions collected for $1 (is serveEach inlined?)" >&2
		cat "$log" >&2
		return 1
	fi
	echo "$ir $allocs"
}

printf '%-12s %14s %14s\n' handler instructions allocations
for h in "${handlers[@]}"; do
	one=$(count "$h" "$n")
	two=$(count "$h" $((2 * n)))
	printf '%-12s %14d %14s\n' "$h" $(((${two% *} - ${one% *}) / n)) "${two#* }"
done
echo "(per answer: ${keys} keys, ${n} and $((2 * n)) answers under callgrind)"
