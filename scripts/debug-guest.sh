#!/usr/bin/env bash
# Debugs one guest of guest/manifest with gdb (make debug-guest GUEST=name).
#
#   debug-guest.sh GUEST [--cpus N] [--port P] [--with NAME[,NAME]] [--arg N] [--keys K=V,..]
#                  [--batch GDBFILE [--interrupt]] [--timeout SECONDS]
#
# Boots Keel under Bochs with GUEST described as in the manifest plus gdb=1 (Keel stops
# it before its first instruction and serves gdb on its debug port, COM2, which Bochs
# connects to a TCP socket on localhost:P), and the guests named by --with as they are
# in the manifest (they run while GUEST is stopped). Then starts gdb with the guest's
# ELF (its symbols; gdb learns the architecture, i386:x86-64, from Keel) connected to
# the stub. When gdb ends (detach, kill or quit), the run goes on to its end and the
# serial log's verdicts are printed.
# --arg N replaces the guest's arg=; --keys adds keys to its description (a later key
# wins: --keys expect=killed:by-gdb for a guest gdb kills). --batch GDBFILE runs gdb -batch on GDBFILE (the
# string @PORT@ in it is replaced by the port) and prints gdb's output between the lines
# "=== gdb" and "=== serial", then Keel's serial log. --interrupt: 2 s after the script
# runs "shell touch @MARK@" (the string is replaced by a file name), gdb gets SIGINT,
# as from Ctrl-C: it sends the break byte to the stub. Exit status: Keel's run (0 pass).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest=""
cpus=2
port=""
with=""
arg=""
keys=""
batch=""
interrupt=0
timeout_s=300
while [ $# -gt 0 ]; do
	case "$1" in
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--port) need_arg "$1" $#; port=$2; shift 2 ;;
	--with) need_arg "$1" $#; with=$2; shift 2 ;;
	--arg) need_arg "$1" $#; arg=$2; shift 2 ;;
	--keys) need_arg "$1" $#; keys=$2; shift 2 ;;
	--batch) need_arg "$1" $#; batch=$(abspath "$2"); shift 2 ;;
	--interrupt) interrupt=1; shift ;;
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	-h | --help) usage ;;
	-*) die "unknown option $1" ;;
	*) [ -z "$guest" ] || die "one guest only ($guest, $1)"; guest=$1; shift ;;
	esac
done
[ -n "$guest" ] || die "which guest? (a name of guest/manifest)"
need_uint --cpus "$cpus" 1
[ -z "$arg" ] || need_uint --arg "$arg" 0
command -v gdb >/dev/null 2>&1 || die "gdb is not installed (apt-get install gdb)"
require_kernel

# The guest's description from the manifest, with gdb=1 (and --arg).
manifest_guests "$KEEL_ROOT/build/guest" all "$guest"
cmdline="$KEEL_GUEST_CMDLINE,gdb=1"
[ -z "$arg" ] || cmdline=$(printf '%s\n' "$cmdline" | sed -E 's/,arg=[^,]*//')",arg=$arg"
case "$keys" in *' '*) die "--keys: no spaces" ;; esac
[ -z "$keys" ] || cmdline+=",$keys"
modules=$KEEL_GUEST_MODULES
if [ -n "$with" ]; then
	IFS=, read -r -a others <<<"$with"
	for o in "${others[@]}"; do
		manifest_guests "$KEEL_ROOT/build/guest" all "$o"
		cmdline+=" $KEEL_GUEST_CMDLINE"
		modules+=",$KEEL_GUEST_MODULES"
	done
fi
elf="$KEEL_ROOT/build/guest/$guest.elf"
[ -f "$elf" ] || { note "no $elf: gdb runs without the guest's symbols"; elf=""; }

# A free port: the stub's socket is Bochs' com2 in socket-server mode.
if [ -z "$port" ]; then
	port=$((20000 + RANDOM % 20000))
	while port_is_listening "$port"; do port=$((port + 1)); done
fi
need_uint --port "$port" 1024 65535

work=$(mktemp -d "${TMPDIR:-/tmp}/keel-debug-guest.XXXXXX")
bochs_pid=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	[ -z "$bochs_pid" ] || kill -INT "$bochs_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
note "Keel with '$cmdline' under Bochs; gdb stub on localhost:$port"
"$KEEL_SCRIPTS/run-bochs.sh" --cpus "$cpus" --timeout "$timeout_s" --quiet \
	--log "$work/serial.txt" --cmdline "$cmdline" --modules "$modules" \
	--com2 "mode=socket-server, dev=localhost:$port" >"$work/run.out" 2>&1 &
bochs_pid=$!

# Bochs listens once it has read its configuration (it then waits for gdb).
for _ in $(seq 600); do
	port_is_listening "$port" && break
	kill -0 "$bochs_pid" 2>/dev/null || { cat "$work/run.out" >&2; die "Bochs ended early"; }
	sleep 0.1
done
port_is_listening "$port" || die "Bochs does not listen on port $port"

gdb_args=(-q -ex "set remotetimeout 60")
# The stub speaks i386:x86-64 in every mode; gdb would keep an ELF32's i386 and misread
# the registers, so it is told (32-bit code then disassembles as 64-bit: "set
# architecture i386" for a look at it, not while reading registers).
if [ -n "$elf" ] && [ "$(od -An -tx1 -j4 -N1 "$elf" | tr -d ' ')" = 01 ]; then
	gdb_args+=(-ex "set architecture i386:x86-64")
fi
[ -z "$elf" ] || gdb_args+=("$elf")
if [ -n "$batch" ]; then
	sed -e "s/@PORT@/$port/g" -e "s|@MARK@|$work/mark|g" "$batch" >"$work/session.gdb"
	echo "=== gdb"
	timeout -k 10 "$timeout_s" gdb -batch -nx "${gdb_args[@]}" -x "$work/session.gdb" \
		</dev/null 2>&1 &
	gdb_pid=$!
	if [ "$interrupt" = 1 ]; then
		while [ ! -e "$work/mark" ] && kill -0 "$gdb_pid" 2>/dev/null; do sleep 0.2; done
		sleep 2
		child=$(pgrep -P "$gdb_pid" || true) # gdb itself, under timeout
		[ -z "$child" ] || kill -INT "$child" 2>/dev/null || true
	fi
	wait "$gdb_pid" || true
else
	gdb "${gdb_args[@]}" -ex "target remote localhost:$port" || true
fi
set +e
wait "$bochs_pid"
rc=$?
set -e
bochs_pid=""
echo "=== serial"
cat "$work/serial.txt" 2>/dev/null || cat "$work/run.out"
exit "$rc"
