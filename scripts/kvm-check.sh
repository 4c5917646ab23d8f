#!/usr/bin/env bash
# Decides whether this machine can run Keel's guests under QEMU with KVM (nested VMX,
# the fast path) and says why in one line; the one place that path's QEMU CPU arguments
# live (run.sh and run-qemu.sh take them from here).
#
#   kvm-check.sh            prints "yes: WHY" or "no: WHY"; exit 0 for yes, 1 for no
#   kvm-check.sh --args     prints the QEMU accelerator and CPU arguments, one per line
#
# Nested VMX needs all of: /dev/kvm readable and writable; the host CPU flag vmx in
# /proc/cpuinfo (QEMU's -cpu host passes the host's flags through, so this is what the
# guest kernel will see); and kvm_intel loaded with nested on
# (/sys/module/kvm_intel/parameters/nested reads Y or 1). Tests point these paths
# elsewhere with KEEL_KVM_DEV, KEEL_CPUINFO and KEEL_KVM_NESTED.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

case "${1:-}" in
--args) printf '%s\n' -accel kvm -cpu host; exit 0 ;;
'') ;;
-h | --help) usage ;;
*) die "unknown argument $1" ;;
esac

dev=${KEEL_KVM_DEV:-/dev/kvm}
cpuinfo=${KEEL_CPUINFO:-/proc/cpuinfo}
nested=${KEEL_KVM_NESTED:-/sys/module/kvm_intel/parameters/nested}

if ! [ -e "$dev" ]; then
	echo "no: $dev does not exist (no KVM here: load kvm_intel, or run inside a VM that offers it)"
	exit 1
fi
if ! [ -r "$dev" ] || ! [ -w "$dev" ]; then
	echo "no: $dev is not readable and writable by $(id -un) (add yourself to group kvm)"
	exit 1
fi
if ! grep -qw vmx "$cpuinfo" 2>/dev/null; then
	echo "no: the CPU shows no vmx flag in $cpuinfo, so -cpu host offers no VMX" \
		"(a VM without nested VMX, or an AMD CPU: Keel needs Intel VMX)"
	exit 1
fi
if ! [ -r "$nested" ]; then
	echo "no: $nested is missing (kvm_intel is not loaded: modprobe kvm_intel nested=1)"
	exit 1
fi
case "$(cat "$nested")" in
Y | y | 1) echo "yes: $dev is usable, the CPU has vmx and kvm_intel has nested=$(cat "$nested")" ;;
*)
	echo "no: kvm_intel has nested=$(cat "$nested") (enable it: modprobe -r kvm_intel;" \
		"modprobe kvm_intel nested=1)"
	exit 1
	;;
esac
