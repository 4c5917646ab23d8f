#!/usr/bin/env bash
# Debugs the kernel with gdb under QEMU TCG (make debug).
#
#   debug-qemu.sh [--break SYMBOL] [--cpus N] [--cmdline "k=v ..."] [--modules a,b]
#                 [--batch-check]
#
# Starts QEMU stopped at reset with its gdb stub on 127.0.0.1:1234 (KEEL_GDB_PORT),
# then gdb with build/keel.elf, connected, a hardware breakpoint on SYMBOL (default
# kmain) and "continue". The serial log goes to the run directory named on stderr,
# which is kept after the session. QEMU is stopped when gdb exits.
#
# The kernel enters in 32-bit mode and runs higher-half 64-bit code later; gdb is
# told "set architecture i386:x86-64" so registers and code read as 64-bit throughout.
# A hardware breakpoint is used because the higher-half address is not mapped at
# reset (a software breakpoint could not be written there).
#
# --batch-check: no prompt; checks that gdb connects, resolves SYMBOL, stops there
# and reads a register. Exit status 0 if all of that worked; the run directory is
# removed then, kept and named otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

symbol=kmain
batch=0
qemu_args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--break) need_arg "$1" $#; symbol=$2; shift 2 ;;
	--cpus | --cmdline | --modules) need_arg "$1" $#; qemu_args+=("$1" "$2"); shift 2 ;;
	--batch-check) batch=1; shift ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
case "$symbol" in '' | *[!A-Za-z0-9_.]*) die "bad symbol '$symbol'" ;; esac

require_kernel
"$KEEL_SCRIPTS/deps.sh" ensure qemu gdb >&2
port=${KEEL_GDB_PORT:-1234}
need_uint KEEL_GDB_PORT "$port" 1 65535

if port_is_listening "$port"; then
	die "port $port is busy (another debug session?); set KEEL_GDB_PORT"
fi

# A batch check runs under a private run root: removed if the check passes.
run_root=""
if [ "$batch" = 1 ]; then
	run_root=$(mktemp -d "${TMPDIR:-/tmp}/keel-debug-qemu.XXXXXX")
	export KEEL_RUN_ROOT=$run_root
	qemu_args+=(--keep)
fi
"$KEEL_SCRIPTS/run-qemu.sh" --gdb --timeout 0 --quiet ${qemu_args[@]+"${qemu_args[@]}"} &
qemu_pid=$!
stop_qemu() {
	kill -TERM "$qemu_pid" 2>/dev/null || true
	wait "$qemu_pid" 2>/dev/null || true
}
trap stop_qemu EXIT

# Wait (up to ~5 s) for the stub to listen before gdb tries to connect.
for _ in $(seq 50); do
	port_is_listening "$port" && break
	kill -0 "$qemu_pid" 2>/dev/null || die "QEMU exited before its gdb stub came up"
	sleep 0.1
done
port_is_listening "$port" || die "QEMU's gdb stub did not come up on port $port"

gdb_cmds=(-ex "set architecture i386:x86-64"
	-ex "file $KEEL_KERNEL"
	-ex "target remote 127.0.0.1:$port"
	-ex "hbreak $symbol")
if [ "$batch" = 0 ]; then
	gdb -q "${gdb_cmds[@]}" -ex continue
	exit 0
fi

# shellcheck disable=SC2016 # $pc is gdb's, not the shell's
out=$(timeout -k 5 60 gdb -q -nx -batch "${gdb_cmds[@]}" \
	-ex "info address $symbol" -ex continue -ex 'printf "RIP=%#lx\n", $pc' \
	-ex "printf \"SYM=%#lx\\n\", &$symbol" -ex kill 2>&1) || true
printf '%s\n' "$out"
rip=$(printf '%s\n' "$out" | sed -n 's/^RIP=//p')
sym=$(printf '%s\n' "$out" | sed -n 's/^SYM=//p')
if [ -n "$rip" ] && [ "$rip" = "$sym" ]; then
	echo "debug-qemu: ok: gdb connected and stopped at $symbol ($sym)"
	stop_qemu
	end_run_dir "$run_root" 1
	exit 0
fi
echo "debug-qemu: FAILED: expected a stop at $symbol (${sym:-unresolved}), pc ${rip:-unknown}" >&2
stop_qemu
end_run_dir "$run_root" 0
exit 1
