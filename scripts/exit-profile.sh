#!/usr/bin/env bash
# Where one exit round trip's instructions go, exactly: boots Keel under Bochs with the
# cost guest (guest/cost.c, which repeats each exit kind in a loop), stops at the Nth
# call of FUNCTION (a kernel symbol on that exit's path: exit_cpuid, hc_nop, ...),
# traces every instruction until the next call, and prints the count per function in
# the order first reached, then the total. Under Bochs one instruction is one TSC cycle,
# so the total is the round trip cost the guest measures. Guest instructions are
# counted as "(guest)".
#
#   exit-profile.sh [--skip N] FUNCTION      (N: calls to let pass first, default 3)
#
# make bench reports the costs (guest-bench.sh); this says where they go.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

skip=3
fn=""
while [ $# -gt 0 ]; do
	case "$1" in
	--skip) need_arg "$1" $#; skip=$2; shift 2 ;;
	-h | --help) usage ;;
	-*) die "unknown option $1" ;;
	*) [ -z "$fn" ] || die "one FUNCTION only"; fn=$1; shift ;;
	esac
done
[ -n "$fn" ] || die "which FUNCTION? (e.g. exit_cpuid, hc_nop)"
need_uint --skip "$skip" 0
require_kernel
addr=$(awk -v f="$fn" '$2 == f { print $1; exit }' "$KEEL_SYMS")
[ -n "$addr" ] || die "no symbol '$fn' in $KEEL_SYMS"
image="$KEEL_ROOT/build/guest/cost.elf"
[ -f "$image" ] || die "missing $image: run 'make'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-prof.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
{
	echo "lb 0x$addr"
	for _ in $(seq 0 "$skip"); do echo c; done
	echo "trace on"
	echo c
	echo "trace off"
	echo quit
} >"$tmp/dbg.rc"
"$KEEL_SCRIPTS/run-bochs.sh" --debug --dbg-batch --dbg-script "$tmp/dbg.rc" --timeout 120 \
	--cpus 1 --modules "$image:cost" --cmdline "guest=cost,image=cost" >"$tmp/out" 2>&1 || true
# Traced lines: "(0).[T] [PHYS] SEL:ADDR (SYMBOL+OFF): insn". Kernel code runs at
# 0xffffffff8...; anything else is the guest's.
# The last traced line is the breakpoint reached again: not part of the round trip.
grep '^(0)\.\[' "$tmp/out" | sed '$d' | awk '
	{
		name = "(guest)"
		if ($3 ~ /:ffffffff8/ && match($0, /\([A-Za-z_][A-Za-z_0-9.]*\+[0-9a-f]+\)/))
			name = substr($0, RSTART + 1, RLENGTH - 2)
		sub(/\+[0-9a-f]+$/, "", name)
		if (!(name in count)) order[++n] = name
		count[name]++
		total++
	}
	END {
		if (!total) { print "exit-profile: no traced instruction (breakpoint not reached?)"; exit 1 }
		for (i = 1; i <= n; i++) printf "%5d  %s\n", count[order[i]], order[i]
		printf "%5d  total (one round trip, instructions = Bochs TSC cycles)\n", total
	}'
