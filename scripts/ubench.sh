#!/usr/bin/env bash
# User-mode benchmarks (tests/user/bench.c) under QEMU TCG on one CPU: a null system
# call round trip and a context switch between two threads (futex ping-pong), in TSC
# cycles. One warm-up boot and --reps more; each boot prints its own min and median
# over 201 samples of 100 operations; this prints, per figure, the min and median over
# the boots of each boot's median, and the spread ((max - min) / median), as the summary
# lines of scripts/kbench.sh:
#   BENCH NAME cycles min=V median=V spread=P% reps=N redone=0 dirty=0
# Under QEMU TCG the TSC is the host's: the figures move with the host's load.
#
#   ubench.sh [--reps N]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

reps=7
while [ $# -gt 0 ]; do
	case "$1" in
	--reps) need_arg "$1" $#; need_uint "$1" "$2" 1 99; reps=$2; shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
require_kernel
image="$KEEL_ROOT/build/user/bench.elf"
[ -f "$image" ] || die "build/user/bench.elf missing (make)"

log=$(mktemp "${TMPDIR:-/tmp}/keel-ubench.XXXXXX")
lines=$(mktemp "${TMPDIR:-/tmp}/keel-ubench-lines.XXXXXX")
trap 'rm -f "$log" "$lines"' EXIT
for boot in $(seq 0 "$reps"); do
	"$KEEL_SCRIPTS/run-qemu.sh" --quiet --cpus 1 --timeout 300 \
		--cmdline "user=bench,image=bench" --modules "$image:bench" --log "$log" \
		>/dev/null 2>&1 || true
	tr -d '\r' <"$log" | grep -q '^user verdict: bench: PASS' ||
		die "boot $boot: the bench program did not pass (log kept: $log)"
	[ "$boot" = 0 ] || tr -d '\r' <"$log" | sed -n 's/^\[bench\] bench: //p' >>"$lines"
done
awk -v reps="$reps" '
function sort(a, n,    i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
}
{ if (!($1 in vals)) order[++count] = $1; vals[$1] = vals[$1] " " $3; mins[$1] = mins[$1] " " $2 }
END {
	printf "bench: user mode, QEMU TCG, 1 CPU, %d boots; per boot: min and median of 201 samples\n", reps
	for (k = 1; k <= count; k++) {
		key = order[k]
		n = split(vals[key], v, " ")
		sort(v, n)
		med = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		m = split(mins[key], w, " ")
		sort(w, m)
		printf "bench: %-20s boot medians %s; boot minimums %s\n", key, vals[key], mins[key]
		printf "BENCH %s cycles min=%g median=%g spread=%.1f%% reps=%d redone=0 dirty=0\n", key, w[1], med, (med > 0 ? (v[n] - v[1]) / med * 100 : 0), reps
	}
}' "$lines"
