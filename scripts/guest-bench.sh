#!/usr/bin/env bash
# Exit costs from inside a guest under Bochs (make bench): boots Keel with the cost
# guest (guest/cost.c) on 1 CPU and prints its figures: CPUID, the nop hypercall, an
# unknown hypercall number (the VMCALL exit without the argument step and handler) and
# vcpu_info, each as min and median TSC cycles per round trip over 9 rounds of 500
# calls (under Bochs the TSC counts emulated instructions: exact and repeatable).
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
grep -q '^guest cost: PASS' "$tmp/log" || { note "the cost guest did not pass (exit $rc)"; exit 1; }
