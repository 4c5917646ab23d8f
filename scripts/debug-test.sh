#!/usr/bin/env bash
# The gdb layer of make test: a scripted gdb session (scripts/debug-session.gdb, gdb
# -batch) against Keel's gdb stub under Bochs, on the guest gdbme (guest/gdbme.c, arg=1:
# it must see gdb's write) while hello32 runs to completion beside it. Checks, each a
# TAP line: the guest stops before its first instruction; a hardware breakpoint and a
# software one at C functions; a local variable; a step into a call and its argument; a
# write into guest memory read back; a single instruction step; detach, after which
# the guest ends with its normal verdict (PASS, so it saw the write); the other guest
# ended while gdbme was stopped; the run passes. Then a second boot (scripts/debug-interrupt.gdb): the endless loop
# of the guest spin runs under gdb until gdb gets SIGINT (Ctrl-C): the stub must stop
# it, and gdb's kill must end it ("killed by gdb") while hello64 passes beside it.
# A third (scripts/debug-selfdebug.gdb): the guest selfdebug takes its own INT3s and
# TF single-step trap while gdb holds a hardware breakpoint (Keel intercepts #BP and
# #DB): they must reach the guest (it passes), and gdb must hear it exit.
#
#   debug-test.sh [--name LABEL] [--cpus N] [--timeout SECONDS]
#
# Prints TAP ("ok N - LABEL: what"); last line "# layer LABEL: P passed, F failed,
# 0 skipped". Exit status 1 on any failure (the whole output is then kept in
# build/runs/LABEL.out).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

label=gdb-bochs
cpus=2
timeout_s=300
while [ $# -gt 0 ]; do
	case "$1" in
	--name) need_arg "$1" $#; label=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
require_kernel
"$KEEL_SCRIPTS/deps.sh" ensure bochs iso gdb >&2

out=$(mktemp "${TMPDIR:-/tmp}/keel-debug-test.XXXXXX")
out2=$(mktemp "${TMPDIR:-/tmp}/keel-debug-test.XXXXXX")
out3=$(mktemp "${TMPDIR:-/tmp}/keel-debug-test.XXXXXX")
trap 'rm -f "$out" "$out2" "$out3"' EXIT
t0=$(date +%s)
set +e
"$KEEL_SCRIPTS/debug-guest.sh" gdbme --arg 1 --with hello32 --cpus "$cpus" \
	--timeout "$timeout_s" --batch "$KEEL_SCRIPTS/debug-session.gdb" >"$out" 2>&1
rc=$?
"$KEEL_SCRIPTS/debug-guest.sh" spin --keys expect=killed:by-gdb --with hello64 --cpus "$cpus" \
	--timeout "$timeout_s" --interrupt --batch "$KEEL_SCRIPTS/debug-interrupt.gdb" >"$out2" 2>&1
rc2=$?
"$KEEL_SCRIPTS/debug-guest.sh" selfdebug --cpus "$cpus" --timeout "$timeout_s" \
	--batch "$KEEL_SCRIPTS/debug-selfdebug.gdb" >"$out3" 2>&1
rc3=$?
set -e
gdb3=$(sed -n '/^=== gdb$/,/^=== serial$/p' "$out3")
serial3=$(sed -n '/^=== serial$/,$p' "$out3")
gdb2=$(sed -n '/^=== gdb$/,/^=== serial$/p' "$out2")
serial2=$(sed -n '/^=== serial$/,$p' "$out2")
gdb_part=$(sed -n '/^=== gdb$/,/^=== serial$/p' "$out")
serial=$(sed -n '/^=== serial$/,$p' "$out")
entry=$(nm "$KEEL_ROOT/build/guest/gdbme.elf" | awk '$3 == "_start" { print $1 }' | sed 's/^0*//')

n=0
failed=0
# check WHAT CONDITION-STATUS: one TAP line.
check() {
	n=$((n + 1))
	if [ "$2" = 0 ]; then
		echo "ok $n - $label: $1"
	else
		echo "not ok $n - $label: $1"
		failed=$((failed + 1))
	fi
}
# has TEXT PATTERN: 0 if the fixed string PATTERN is in TEXT.
has() {
	printf '%s\n' "$1" | grep -qF -- "$2" && echo 0 || echo 1
}
# before TEXT A B: 0 if a line containing A comes before one containing B.
before() {
	printf '%s\n' "$1" | awk -v a="$2" -v b="$3" 'index($0, a) && !ia { ia = NR }
		index($0, b) && !ib { ib = NR } END { exit !(ia && ib && ia < ib) }' && echo 0 || echo 1
}

check "stopped before the first instruction (pc = _start = 0x$entry)" \
	"$(has "$gdb_part" "CHECK start_pc=0x$entry")"
check "a hardware breakpoint (debug registers) at guest_main" \
	"$(has "$gdb_part" "Breakpoint 1, guest_main (arg=1")"
check "a software breakpoint at the C function gdb_stop_here" \
	"$(has "$gdb_part" "Breakpoint 2, gdb_stop_here")"
check "a local variable: local = 12" "$(has "$gdb_part" "CHECK local=12")"
check "step into the call square_plus" "$(has "$gdb_part" "square_plus (x=12) at")"
check "its argument: x = 12" "$(has "$gdb_part" "CHECK x=12")"
check "a write into guest memory reads back: poke = 0x600dcafe" \
	"$(has "$gdb_part" "CHECK poke=0x600dcafe")"
check "a single instruction step moved the pc" "$(has "$gdb_part" "CHECK stepi_moved=1")"
check "the session ran to its end and detached" "$(has "$gdb_part" "CHECK done")"
check "gdbme saw gdb's write and ended with its normal verdict (PASS)" \
	"$(has "$serial" "guest gdbme: PASS")"
check "hello32 ran to completion (PASS)" "$(has "$serial" "guest hello32: PASS")"
check "hello32 ended while gdbme was stopped (before the detach)" \
	"$(before "$serial" "guest hello32: exited" "gdb: detached from guest gdbme")"
check "the run passes (Bochs exit status $rc)" "$([ "$rc" = 0 ] && echo 0 || echo 1)"
check "Ctrl-C (gdb's break byte) stops the running guest spin" \
	"$(has "$gdb2" "Program received signal SIGINT")"
check "gdb reads the stopped guest (the second session ran to its end)" \
	"$(has "$gdb2" "CHECK done")"
check "gdb's kill ends spin (killed by gdb, its expected end)" \
	"$(has "$serial2" "guest spin: PASS (killed: killed by gdb")"
check "hello64 ran beside it (PASS), the run passes (status $rc2)" \
	"$([ "$rc2" = 0 ] && has "$serial2" "guest hello64: PASS" || echo 1)"
check "the guest's own INT3 and TF trap reach it under gdb (selfdebug PASS, status $rc3)" \
	"$([ "$rc3" = 0 ] && has "$serial3" "guest selfdebug: PASS" || echo 1)"
check "gdb hears the guest exit (status 1: port 0xF4 with 0)" \
	"$(has "$gdb3" "[Inferior 1 (Remote target) exited with code 01]")"
echo "# $label: gdb session and Keel run took $(($(date +%s) - t0))s wall"
if [ "$failed" != 0 ]; then
	mkdir -p "$KEEL_ROOT/build/runs"
	cat "$out" "$out2" "$out3" >"$KEEL_ROOT/build/runs/$label.out"
	note "output kept: build/runs/$label.out"
	sed 's/^/# /' "$out" "$out2" "$out3" | tail -n 80
fi
echo "# layer $label: $((n - failed)) passed, $failed failed, 0 skipped"
[ "$failed" = 0 ]
