#!/usr/bin/env bash
# Boots the kernel once and shows its log live (make run).
#
#   run.sh [--emu auto|qemu|kvm|bochs] [--cpus N] [--cmdline "k=v ..."]
#          [--modules a,b] [--timeout SECONDS] [--demo] [--dry-run]
#
# --demo: boots with the demo guests of build/guest (the lines of guest/manifest marked
# yes: real, 32-bit and long-mode guests, several with 2-3 vCPUs, demand paging, memory
# given back, a TOCTOU check, a hypercall fuzzer, and some that triple-fault, write
# outside their RAM or loop until their time limit), added to any --cmdline/--modules
# given. They run at once on every CPU; Keel prints each guest's end, a summary table
# and each guest's verdict; the run fails unless every verdict is PASS.
#
# auto: QEMU with KVM when nested VMX works here (scripts/kvm-check.sh decides and says
# why: /dev/kvm usable, the CPU's vmx flag, kvm_intel nested=1), the fast path to
# running guests; Bochs otherwise (the only emulator here that emulates VMX). qemu: QEMU
# TCG (no VMX). kvm: QEMU with KVM. --dry-run: print the choice and the command, run
# nothing.
# The kernel gets "cpus=N CMDLINE". Exit status 0 if the kernel reported success,
# 1 if it failed, 124 on timeout.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

emu=auto
cpus=1
cmdline=""
modules=""
timeout_s=300
demo=0
dry=0
while [ $# -gt 0 ]; do
	case "$1" in
	--emu) need_arg "$1" $#; emu=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--cmdline) need_arg "$1" $#; cmdline=$2; shift 2 ;;
	--modules) need_arg "$1" $#; modules=$2; shift 2 ;;
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	--demo) demo=1; shift ;;
	--dry-run) dry=1; shift ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
need_uint --cpus "$cpus" 1
need_uint --timeout "$timeout_s" 1
if [ "$demo" = 1 ]; then
	manifest_guests "$KEEL_ROOT/build/guest" demo
	cmdline="${cmdline:+$cmdline }$KEEL_GUEST_CMDLINE"
	modules="${modules:+$modules,}$KEEL_GUEST_MODULES"
fi

if [ "$emu" = auto ]; then
	if why=$("$KEEL_SCRIPTS/kvm-check.sh"); then
		emu=kvm
		note "using QEMU + KVM: ${why#yes: }"
	else
		emu=bochs
		note "using Bochs (VMX emulated, slower): no nested KVM: ${why#no: }"
	fi
fi

args=(--cpus "$cpus" --timeout "$timeout_s" --cmdline "cpus=$cpus${cmdline:+ $cmdline}")
[ -z "$modules" ] || args+=(--modules "$modules")
case "$emu" in
qemu | kvm)
	[ "$emu" = qemu ] && accel=tcg || accel=kvm
	pass=$KEEL_QEMU_RC_PASS
	fail=$KEEL_QEMU_RC_FAIL
	[ "$accel" = kvm ] || note "using QEMU TCG (no VMX: VMX features will be reported missing)"
	[ "$dry" = 0 ] || { echo "run-qemu.sh --accel $accel ${args[*]}"; exit 0; }
	set +e
	"$KEEL_SCRIPTS/run-qemu.sh" --accel "$accel" "${args[@]}"
	rc=$?
	set -e
	;;
bochs)
	pass=$KEEL_BOCHS_RC_PASS
	fail=$KEEL_BOCHS_RC_FAIL
	[ "$dry" = 0 ] || { echo "run-bochs.sh ${args[*]}"; exit 0; }
	set +e
	"$KEEL_SCRIPTS/run-bochs.sh" "${args[@]}"
	rc=$?
	set -e
	;;
*) die "--emu must be auto, qemu, kvm or bochs" ;;
esac

case "$rc" in
"$pass") note "kernel exited: success"; exit 0 ;;
"$fail") note "kernel exited: failure"; exit 1 ;;
"$KEEL_RC_TIMEOUT") note "kernel did not exit within ${timeout_s}s"; exit 124 ;;
*) note "emulator stopped with status $rc (reset, triple fault or emulator error)"; exit 1 ;;
esac
