#!/usr/bin/env bash
# Exit costs from inside a guest under Bochs (make bench): boots Keel with the cost
# guest (guest/cost.c) on 1 CPU and prints its figures: CPUID, the nop hypercall, an
# unknown hypercall number (the VMCALL exit without the argument step and handler),
# vcpu_info, RDMSR/WRMSR, a dword MOV to the I/O APIC (the MMIO path), an x2APIC EOI and a
# local APIC timer interrupt (guest/cost.c), each as min and median TSC cycles per round
# trip over 9 rounds of 500 calls after a warm-up (under Bochs the TSC counts emulated instructions: exact and
# repeatable), then one summary line per figure in the format of the host benchmark
# (tests/host/bench.h), which scripts/bench-compare.sh reads:
#   BENCH exit.NAME cycles min=V median=V spread=P% reps=9 redone=0 dirty=0
# Then the boot time of a Multiboot kernel (guest/mb/basic.elf, alone, 3 boots): TSC
# cycles from the start of its vCPU to its first console line (Keel's "first line after
# N cycles"), as BENCH boot.mb_first_line.
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

# Boot time: VM entry of a Multiboot kernel to its first line, 3 boots of its own.
mb="$KEEL_ROOT/build/guest/mb/basic.elf"
[ -f "$mb" ] || die "missing $mb: run 'make'"
for i in 1 2 3; do
	"$KEEL_SCRIPTS/run-bochs.sh" --quiet --cpus 1 --timeout "$timeout_s" --log "$tmp/mb$i" \
		--modules "$mb:basic" --cmdline "guest=basic,image=basic,mode=32,mem=128M,expect=exit:1" \
		2>/dev/null || true
	tr -d '\r' <"$tmp/mb$i" | sed -n 's/^guest basic: exited.*first line after \([0-9]*\) cycles.*/\1/p'
done | sort -n | awk '{ v[NR] = $1 }
	END {
		if (NR < 3) { print "guest-bench: boot time: a boot printed no first-line figure" > "/dev/stderr"; exit 1 }
		printf "guest-bench: boot mb_first_line min %s median %s max %s cycles (3 boots)\n", v[1], v[2], v[3]
		spread = v[2] > 0 ? (v[3] - v[1]) / v[2] * 100 : 0
		printf "BENCH boot.mb_first_line cycles min=%s median=%s spread=%.1f%% reps=3 redone=0 dirty=0\n", v[1], v[2], spread
	}'
