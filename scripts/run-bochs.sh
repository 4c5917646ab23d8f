#!/usr/bin/env bash
# Boots the kernel under Bochs (the VMX-capable emulator) from a GRUB ISO, unattended.
#
#   run-bochs.sh [--cpus N] [--mem MB] [--cmdline "k=v ..."] [--modules a,b]
#                [--timeout SECONDS] [--log FILE] [--model NAME] [--ips N]
#                [--quiet] [--keep] [--com2 SPEC] [--debug [--dbg-script FILE] [--dbg-batch]]
#
# Each run gets its own directory (printed on stderr) holding bochsrc, the ISO,
# serial.txt (COM1), bochs.out (Bochs' stdout: port 0xE9 and the debugger) and
# bochs.log. The serial log is copied to stdout as it grows (not with --quiet) and
# to FILE with --log. The directory is removed when the kernel reports success (and
# after a --dbg-batch run that Bochs ends with status 0) and kept otherwise ("run
# directory kept: DIR" on stderr); --keep always keeps it (for callers that judge the
# run themselves and remove it when their checks pass). An interactive --debug
# session keeps it (serial.txt is there).
#
# --com2 SPEC: a second serial port, Keel's debug port (the gdb stub), e.g.
# "mode=socket-server, dev=localhost:1234" (Bochs waits for the client to connect).
#
# Exit status: 0 kernel passed (magic breakpoint), 1 kernel failed / shutdown /
# triple fault, 124 timeout, anything else: Bochs itself failed.
#
# --debug starts the interactive Bochs debugger, stopped at the first BIOS
# instruction, with the kernel symbols loaded (build/keel.sym converted to Bochs'
# "ADDR NAME" format) and no timeout. --dbg-script FILE: debugger commands to run
# first (e.g. "lb 0xffffffff80100000" and "c"). --dbg-batch: no prompt; print the
# debugger's output and exit when the script ends or --timeout passes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

cpus=1
mem=128
cmdline=""
modules=""
timeout_s=120
log=""
# Most complete VMX of Bochs 2.7: EPT (1G, A/D), unrestricted guest, VPID, MTF, PML.
model=tigerlake
ips=10000000
quiet=0
debug=0
dbg_script=""
dbg_batch=0
keep=0
com2=""
while [ $# -gt 0 ]; do
	case "$1" in
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--mem) need_arg "$1" $#; mem=$2; shift 2 ;;
	--cmdline) need_arg "$1" $#; cmdline=$2; shift 2 ;;
	--modules) need_arg "$1" $#; modules=$2; shift 2 ;;
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	--log) need_arg "$1" $#; log=$2; shift 2 ;;
	--model) need_arg "$1" $#; model=$2; shift 2 ;;
	--ips) need_arg "$1" $#; ips=$2; shift 2 ;;
	--quiet) quiet=1; shift ;;
	--keep) keep=1; shift ;;
	--com2) need_arg "$1" $#; com2=$2; shift 2 ;;
	--debug) debug=1; shift ;;
	--dbg-script) need_arg "$1" $#; dbg_script=$2; debug=1; shift 2 ;;
	--dbg-batch) dbg_batch=1; debug=1; shift ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
need_uint --cpus "$cpus" 1
need_uint --mem "$mem" 32 2048 # Bochs rejects more than 2048 MB
need_uint --timeout "$timeout_s" 1
need_uint --ips "$ips" 1000000
case "$model" in '' | *[!a-z0-9_]*) die "bad --model '$model'" ;; esac

[ -z "$log" ] || log=$(abspath "$log")
[ -z "$dbg_script" ] || dbg_script=$(abspath "$dbg_script")
require_kernel
"$KEEL_SCRIPTS/deps.sh" ensure bochs iso >&2

run=$(make_run_dir "bochs-${cpus}cpu")
note "run directory $run"
# finish RC: ends the run directory (removed only after a pass) and exits with RC.
finish() {
	cd "$KEEL_ROOT"
	[ "$keep" = 1 ] || end_run_dir "$run" "$([ "$1" = "$KEEL_BOCHS_RC_PASS" ] && echo 1 || echo 0)"
	exit "$1"
}

iso_args=(--cmdline "$cmdline")
if [ -n "$modules" ]; then
	IFS=, read -r -a mods <<<"$modules"
	for m in "${mods[@]}"; do iso_args+=(--module "$m"); done
fi
"$KEEL_SCRIPTS/mkiso.sh" "$KEEL_KERNEL" "$run/keel.iso" "${iso_args[@]}"

# Every line here answers a measured trap; see docs/PLATFORM.md.
cat >"$run/bochsrc" <<EOF
# fastboot: without it the BIOS waits ~3 s of virtual time (seconds of real time with SMP).
romimage: file=/usr/share/bochs/BIOS-bochs-latest, options=fastboot
vgaromimage: file=/usr/share/vgabios/vgabios.bin
megs: $mem
# reset_on_triple_fault=0: a triple fault must end the run with rc 1, not reach the
# debugger (whose "quit" would return 0, a false pass). ignore_bad_msrs=0: unknown
# MSRs raise #GP as on hardware.
cpu: count=$cpus, model=$model, ips=$ips, reset_on_triple_fault=0, ignore_bad_msrs=0
clock: sync=none, time0=local
display_library: term
ata0-master: type=cdrom, path=keel.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=serial.txt
port_e9_hack: enabled=1
magic_break: enabled=1
log: bochs.log
debugger_log: debugger.out
panic: action=fatal
error: action=report
sound: driver=dummy
speaker: enabled=0
EOF
[ -z "$com2" ] || echo "com2: enabled=1, $com2" >>"$run/bochsrc"

if [ "$debug" = 1 ]; then
	rc_file="$run/debug.rc"
	: >"$rc_file"
	if [ -f "$KEEL_SYMS" ]; then
		# Bochs' ldsym wants "ADDR NAME" (hex, no 0x) per line; nm prints
		# "ADDR TYPE NAME". Accept both; drop undefined and absolute symbols.
		awk 'NF == 3 && $2 !~ /^[aAuUwWvV]$/ { print $1, $3 } NF == 2 && $1 ~ /^[0-9a-fA-F]+$/ { print $1, $2 }' \
			"$KEEL_SYMS" >"$run/keel.bochs-sym"
		echo 'ldsym global "keel.bochs-sym"' >>"$rc_file"
	else
		note "no $KEEL_SYMS: debugging without symbols"
	fi
	[ -z "$dbg_script" ] || cat "$dbg_script" >>"$rc_file"
	cd "$run"
	if [ "$dbg_batch" = 1 ]; then
		# Scripted: the debugger reads its commands from the file, then Bochs exits.
		set +e
		TERM=dumb timeout -s INT -k 10 "$timeout_s" \
			bochs -q -unlock -f bochsrc -rc debug.rc </dev/null >bochs.out 2>&1
		rc=$?
		set -e
		cat debugger.out 2>/dev/null || cat bochs.out
		finish "$rc"
	fi
	note "Bochs debugger: 'c' continues, Ctrl-C stops, 'quit' leaves"
	note "serial log: tail -f $run/serial.txt"
	exec env TERM="${TERM:-dumb}" bochs -q -unlock -f bochsrc -rc debug.rc
fi

printf 'c\nquit\n' >"$run/run.rc"
: >"$run/serial.txt"
cd "$run"
# SIGINT, not SIGTERM: the term display ignores TERM; INT stops the simulation and the
# debugger then runs "quit". -k 10 is the last resort.
TERM=dumb timeout -s INT -k 10 "$timeout_s" \
	bochs -q -unlock -f bochsrc -rc run.rc </dev/null >bochs.out 2>&1 &
# Stopping this script stops Bochs; only SIGINT does (timeout passes it on).
emu_follow $! INT "$quiet" "$log"
rc=$emu_rc
if [ "$rc" = "$KEEL_RC_TIMEOUT" ] || [ "$rc" = 137 ]; then
	note "timeout after ${timeout_s}s"
	rc=$KEEL_RC_TIMEOUT
fi
note "bochs exit status $rc"
finish "$rc"
