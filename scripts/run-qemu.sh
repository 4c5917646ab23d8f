#!/usr/bin/env bash
# Boots the kernel under QEMU with -kernel (Multiboot v1), unattended.
#
#   run-qemu.sh [--cpus N] [--mem MB] [--cmdline "k=v ..."] [--modules a,b]
#               [--timeout SECONDS] [--log FILE] [--accel tcg|kvm] [--gdb]
#               [--interactive] [--quiet] [--keep] [--dry-run]
#
# Each run gets its own directory (printed on stderr) with serial.txt (COM1), e9.txt
# (port 0xE9) and qemu.out (QEMU's own messages). The serial log is copied to
# stdout as it grows (not with --quiet) and to FILE with --log. The directory is
# removed when the kernel reports success and kept otherwise ("run directory kept:
# DIR" on stderr); --keep always keeps it (for callers that judge the run themselves
# and remove it when their checks pass). Modules are PATH or
# PATH:NAME; the kernel sees the command line "keel.elf k=v ..." and each module
# string is NAME, the same as under Bochs (mkiso.sh).
#
# --accel tcg (default): -cpu max, no VMX. --accel kvm: the arguments of
# scripts/kvm-check.sh --args (-cpu host), refused with kvm-check.sh's reason unless
# nested VMX works here. --dry-run: print QEMU's accelerator and CPU arguments, run nothing. --gdb: gdb stub on 127.0.0.1:1234 (KEEL_GDB_PORT), CPU
# stopped at reset (like -s -S).
# --interactive: serial on this terminal (Ctrl-A x quits), no timeout.
# --timeout 0: no timeout.
#
# Exit status: 33 kernel passed, 35 kernel failed, 124 timeout, 0/1/other: QEMU
# stopped some other way (reset, triple fault with -no-reboot, error).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

cpus=1
mem=128
cmdline=""
modules=""
timeout_s=60
log=""
accel=tcg
gdb=0
interactive=0
dry=0
quiet=0
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--mem) need_arg "$1" $#; mem=$2; shift 2 ;;
	--cmdline) need_arg "$1" $#; cmdline=$2; shift 2 ;;
	--modules) need_arg "$1" $#; modules=$2; shift 2 ;;
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	--log) need_arg "$1" $#; log=$2; shift 2 ;;
	--accel) need_arg "$1" $#; accel=$2; shift 2 ;;
	--gdb) gdb=1; shift ;;
	--interactive) interactive=1; shift ;;
	--quiet) quiet=1; shift ;;
	--keep) keep=1; shift ;;
	--dry-run) dry=1; shift ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
need_uint --cpus "$cpus" 1
need_uint --mem "$mem" 16
need_uint --timeout "$timeout_s" 0

[ -z "$log" ] || log=$(abspath "$log")
require_kernel
"$KEEL_SCRIPTS/deps.sh" ensure qemu >&2

case "$accel" in
tcg)
	# More vCPUs than host cores under multi-threaded TCG: a vCPU holding a ticket lock
	# is descheduled while the others spin (measured: the 4-CPU spinlock test runs past
	# 300 s, 0.7 s single-threaded). Then one host thread runs all vCPUs in turn.
	if [ "$cpus" -gt "$(nproc)" ]; then
		# shellcheck disable=SC2054 # the comma is QEMU's option syntax
		cpu_args=(-accel tcg,thread=single -cpu max)
	else
		cpu_args=(-accel tcg -cpu max)
	fi
	;;
kvm)
	why=$("$KEEL_SCRIPTS/kvm-check.sh") || die "--accel kvm: ${why#no: }"
	mapfile -t cpu_args < <("$KEEL_SCRIPTS/kvm-check.sh" --args)
	;;
*) die "--accel must be tcg or kvm" ;;
esac
[ "$dry" = 0 ] || { echo "${cpu_args[*]}"; exit 0; }

run=$(make_run_dir "qemu-${accel}-${cpus}cpu")
note "run directory $run"
# finish RC: ends the run directory (removed only after a pass) and exits with RC.
finish() {
	cd "$KEEL_ROOT"
	[ "$keep" = 1 ] || end_run_dir "$run" "$([ "$1" = "$KEEL_QEMU_RC_PASS" ] && echo 1 || echo 0)"
	exit "$1"
}
# QEMU puts the -kernel path and the -initrd paths into the Multiboot strings; run
# from the run directory with short names so the kernel sees "keel.elf" and NAME.
ln -s "$KEEL_KERNEL" "$run/keel.elf"
initrd=""
if [ -n "$modules" ]; then
	IFS=, read -r -a mods <<<"$modules"
	for spec in "${mods[@]}"; do
		path=${spec%%:*}
		name=$(basename "$path")
		[ "$spec" = "$path" ] || name=${spec#*:}
		case "$name" in '' | */* | *' '* | *,* | keel.elf) die "bad module name '$name'" ;; esac
		check_module_path "$path"
		[ ! -e "$run/$name" ] || die "module name '$name' given twice"
		ln -s "$(cd "$(dirname "$path")" && pwd)/$(basename "$path")" "$run/$name"
		initrd="${initrd:+$initrd,}$name"
	done
fi

args=("${cpu_args[@]}" -m "${mem}M" -smp "$cpus"
	-kernel keel.elf -append "$cmdline"
	-display none -monitor none -no-reboot
	-device "isa-debug-exit,iobase=0xf4,iosize=0x04"
	-debugcon file:e9.txt)
[ -z "$initrd" ] || args+=(-initrd "$initrd")
[ "$gdb" = 0 ] || args+=(-gdb "tcp:127.0.0.1:${KEEL_GDB_PORT:-1234}" -S)

cd "$run"
if [ "$interactive" = 1 ]; then
	note "serial on this terminal; Ctrl-A x quits QEMU"
	set +e
	qemu-system-x86_64 "${args[@]}" -serial mon:stdio
	rc=$?
	set -e
	note "qemu exit status $rc"
	finish "$rc"
fi

: >serial.txt
args+=(-serial file:serial.txt)
if [ "$timeout_s" = 0 ]; then
	qemu-system-x86_64 "${args[@]}" </dev/null >qemu.out 2>&1 &
else
	timeout -k 5 "$timeout_s" qemu-system-x86_64 "${args[@]}" </dev/null >qemu.out 2>&1 &
fi
# Stopping this script stops the emulator (debug-qemu.sh relies on it).
emu_follow $! TERM "$quiet" "$log"
rc=$emu_rc
if [ "$timeout_s" != 0 ] && { [ "$rc" = "$KEEL_RC_TIMEOUT" ] || [ "$rc" = 137 ]; }; then
	note "timeout after ${timeout_s}s"
	rc=$KEEL_RC_TIMEOUT
fi
if [ -s qemu.out ]; then sed 's/^/qemu: /' qemu.out >&2; fi
note "qemu exit status $rc"
finish "$rc"
