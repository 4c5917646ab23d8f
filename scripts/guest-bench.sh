#!/usr/bin/env bash
# Exit costs from inside a guest under Bochs (make bench): boots Keel with the cost
# guest (guest/cost.c) on 1 CPU and prints its figures: CPUID, the nop hypercall, an
# unknown hypercall number (the VMCALL exit without the argument step and handler),
# vcpu_info, RDMSR/WRMSR, a dword MOV to the I/O APIC (the MMIO path), an x2APIC EOI and a
# local APIC timer interrupt (guest/cost.c), each as min and median TSC cycles per round
# trip over 9 rounds of 500
# calls after a warm-up (under Bochs the TSC counts emulated instructions: exact and
# repeatable), then one summary line per figure in the format of the host benchmark
# (tests/host/bench.h), which scripts/bench-compare.sh reads:
#   BENCH exit.NAME cycles min=V median=V spread=P% reps=9 redone=0 dirty=0
# Prints only; exit status 1 if the run or the guest failed.
#
#   guest-bench.sh [--timeout SECONDS]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

timeout_s=120
while [ $# -gt 0 ]; do
	case "$1" in
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
image="$KEEL_ROOT/build/guest/cost.elf"
[ -f "$image" ] || die "missing $image: run 'make'"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-gbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rc=0
"$KEEL_SCRIPTS/run-bochs.sh" --quiet --cpus 1 --timeout "$timeout_s" --log "$tmp/log" \
	--modules "$image:cost" --cmdline "guest=cost,image=cost" 2>/dev/null || rc=$?
tr -d '\r' <"$tmp/log" | sed -n 's/^\[cost\] cost: /guest-bench: /p'
# "[cost] cost: NAME min M median D max X cycles/round trip (R rounds of C)"
tr -d '\r' <"$tmp/log" | awk '$1 == "[cost]" && $2 == "cost:" && $4 == "min" && $8 == "max" {
	spread = $7 > 0 ? ($9 - $5) / $7 * 100 : 0
	rounds = $12; sub(/^[(]/, "", rounds)
	printf "BENCH exit.%s cycles min=%s median=%s spread=%.1f%% reps=%s redone=0 dirty=0\n", $3, $5, $7, spread, rounds
}'
grep -q '^guest cost: PASS' "$tmp/log" || { note "the cost guest did not pass (exit $rc)"; exit 1; }
