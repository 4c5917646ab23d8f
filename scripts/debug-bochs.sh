#!/usr/bin/env bash
# Starts the Bochs debugger on the kernel, symbols loaded (make bochs-debug).
#
#   debug-bochs.sh [--break SYMBOL] [--guest NAME] [--batch-check] [run-bochs.sh options...]
#
# Bochs stops at the first BIOS instruction with build/keel.sym loaded, so addresses
# print as "kmain+1c". --break SYMBOL sets a linear breakpoint on SYMBOL and runs to
# it. Useful commands: c, s, n, r, sreg, creg, page ADDR, x /4gx ADDR, info cpu,
# vmexitbp (stop at every VM exit), lb ADDR, info symbols, quit.
# --guest NAME: boots guest NAME of guest/manifest (its module and description) and
# runs to the magic breakpoint Keel takes right before that guest's first VM entry
# (cmdline bochsbreak=NAME): "s" then steps through VMLAUNCH into the guest's first
# instruction. (make bochs-debug GUEST=NAME; MODULES= and CMDLINE= pass on as they are.)
# --batch-check: no prompt; runs to SYMBOL (default kmain), prints the registers and
# checks that Bochs stopped there. Exit status 0 if it did.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

symbol=""
guest=""
batch=0
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--break) need_arg "$1" $#; symbol=$2; shift 2 ;;
	--guest) need_arg "$1" $#; guest=$2; shift 2 ;;
	--batch-check) batch=1; shift ;;
	-h | --help) usage ;;
	*) args+=("$1"); shift ;;
	esac
done
[ "$batch" = 0 ] || : "${symbol:=kmain}"

script=$(mktemp "${TMPDIR:-/tmp}/keel-bochs-dbg.XXXXXX")
trap 'rm -f "$script"' EXIT
if [ -n "$symbol" ]; then
	[ -f "$KEEL_SYMS" ] || die "no symbol file $KEEL_SYMS (run make first)"
	addr=$(awk -v s="$symbol" '$NF == s { print $1; exit }' "$KEEL_SYMS")
	[ -n "$addr" ] || die "symbol $symbol not in $KEEL_SYMS"
	printf 'lb 0x%s\nc\n' "$addr" >>"$script"
fi
if [ -n "$guest" ]; then
	manifest_guests "$KEEL_ROOT/build/guest" all "$guest"
	args+=(--cmdline "$KEEL_GUEST_CMDLINE bochsbreak=$guest" --modules "$KEEL_GUEST_MODULES")
	printf 'c\n' >>"$script"
	note "Bochs runs to the magic breakpoint before guest $guest's first VM entry"
fi
if [ "$batch" = 0 ]; then
	"$KEEL_SCRIPTS/run-bochs.sh" --debug --dbg-script "$script" ${args[@]+"${args[@]}"}
	exit $?
fi

printf 'r\nquit\n' >>"$script"
out=$("$KEEL_SCRIPTS/run-bochs.sh" --dbg-batch --dbg-script "$script" \
	${args[@]+"${args[@]}"} 2>&1) || true
printf '%s\n' "$out"
if printf '%s\n' "$out" | grep -q "($symbol+0)"; then
	echo "debug-bochs: ok: stopped at $symbol (0x$addr) with symbols loaded"
	exit 0
fi
echo "debug-bochs: FAILED: no stop at $symbol (0x$addr)" >&2
exit 1
