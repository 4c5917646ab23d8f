# shellcheck shell=bash
# Shared helpers for the Keel scripts. Sourced, never run. Owns: repository paths,
# messages, run directories and the exit-code conventions of the kernel's exit path.
# It must not know about any one emulator's options (those live in run-*.sh).

# Variables marked SC2034 are used by the scripts that source this file.
KEEL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034
KEEL_SCRIPTS="$KEEL_ROOT/scripts"
KEEL_KERNEL="${KEEL_KERNEL:-$KEEL_ROOT/build/keel.elf}"
KEEL_SYMS="${KEEL_SYMS:-$KEEL_ROOT/build/keel.sym}"

# shellcheck disable=SC2034
{
	# Exit status of each emulator when the kernel reports pass / fail.
	# QEMU isa-debug-exit: rc = (value << 1) | 1, value 0x10 pass, 0x11 fail.
	KEEL_QEMU_RC_PASS=33
	KEEL_QEMU_RC_FAIL=35
	# Bochs: magic breakpoint -> debugger "quit" -> 0; "Shutdown" on port 0x8900 -> 1.
	KEEL_BOCHS_RC_PASS=0
	KEEL_BOCHS_RC_FAIL=1
	# timeout(1) reports 124 when it had to signal the command (137 after -k KILL).
	KEEL_RC_TIMEOUT=124
}

keel_prog=$(basename "$0")

die() {
	printf '%s: error: %s\n' "$keel_prog" "$*" >&2
	exit 2
}

note() {
	printf '%s: %s\n' "$keel_prog" "$*" >&2
}

# usage: prints the calling script's header comment (its manual) and exits 2.
usage() {
	sed -n '2,/^set -euo/{s/^# \{0,1\}//p;}' "$0" | sed '/^#!/d'
	exit 2
}

# need_arg OPTION ARGC: dies unless an option that takes a value got one.
need_arg() {
	[ "$2" -ge 2 ] || die "option $1 needs a value"
}

# is_uint VALUE: true if VALUE is a non-negative decimal integer.
is_uint() {
	case "$1" in
	'' | *[!0-9]*) return 1 ;;
	*) return 0 ;;
	esac
}

# need_uint OPTION VALUE MIN [MAX]: dies unless VALUE is an integer in [MIN, MAX].
need_uint() {
	if ! is_uint "$2" || [ "$2" -lt "$3" ] || { [ $# -ge 4 ] && [ "$2" -gt "$4" ]; }; then
		die "$1 must be an integer >= $3${4:+ and <= $4} (got '$2')"
	fi
}

# require_kernel: dies with a hint if the kernel image is missing.
require_kernel() {
	[ -f "$KEEL_KERNEL" ] || die "kernel $KEEL_KERNEL not found (run make first)"
}

# make_run_dir LABEL: prints a fresh directory for one emulator run under build/runs/
# (KEEL_RUN_ROOT moves them elsewhere). It holds the serial log, the emulator's log and
# config; end_run_dir removes it after a good run and keeps it after a bad one, for
# post-mortems. Only the newest 30 run directories are kept.
make_run_dir() {
	local root="${KEEL_RUN_ROOT:-$KEEL_ROOT/build/runs}" old
	mkdir -p "$root"
	# Run directory names come from make_run_dir only: no spaces or newlines.
	# shellcheck disable=SC2012
	ls -1dt "$root"/*.?????? 2>/dev/null | tail -n +30 | while read -r old; do
		rm -rf -- "$old"
	done
	mktemp -d "$root/$1.XXXXXX"
}

# end_run_dir DIR GOOD: the end of a run. GOOD=1: removes DIR (KEEL_KEEP_RUNS=1 keeps
# every run's). GOOD=0: keeps DIR and says so on stderr ("run directory kept: DIR").
end_run_dir() {
	[ -n "$1" ] && [ -d "$1" ] || return 0
	if [ "$2" = 1 ] && [ "${KEEL_KEEP_RUNS:-0}" != 1 ]; then
		rm -rf -- "$1"
	else
		note "run directory kept: $1"
	fi
}

# abspath PATH: PATH made absolute (its directory must exist).
abspath() {
	local dir
	dir=$(cd "$(dirname "$1")" && pwd) || die "no directory for $1"
	printf '%s/%s\n' "$dir" "$(basename "$1")"
}

# port_is_listening PORT: true if a TCP socket listens on PORT on this host.
port_is_listening() {
	if command -v ss >/dev/null 2>&1; then
		ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
	else
		# Without ss: /proc/net/tcp lists listening sockets as state 0A.
		awk -v p="$(printf '%04X' "$1")" '$4 == "0A" && $2 ~ (":" p "$") { f = 1 }
			END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
	fi
}

# check_module_path PATH: module paths end up in QEMU's comma-separated -initrd list
# and in space-separated Multiboot strings, so neither character may appear.
check_module_path() {
	case "$1" in
	*,* | *' '*) die "module path '$1' must not contain commas or spaces" ;;
	esac
	[ -f "$1" ] || die "module $1 not found"
}

# emu_follow PID SIGNAL QUIET LOG: follows an emulator started in the background in the
# current directory: shows serial.txt as it grows (unless QUIET is 1), makes a stop of
# this script stop the emulator with SIGNAL (Bochs only stops on INT), waits for its
# real exit status and copies serial.txt to LOG (if set). Sets emu_rc.
# shellcheck disable=SC2034 # emu_rc is read by the caller
emu_follow() {
	local pid=$1 sig=$2 quiet_=$3 log_=$4 tailer=""
	# shellcheck disable=SC2064 # expand now: the trap must name this PID
	trap "kill -$sig $pid 2>/dev/null || true" INT TERM
	if [ "$quiet_" = 0 ]; then
		tail -s 0.1 -n +1 -f --pid="$pid" serial.txt &
		tailer=$!
	fi
	set +e
	wait "$pid"
	emu_rc=$?
	# A trapped signal ends "wait" early: wait again for the real status.
	while kill -0 "$pid" 2>/dev/null; do wait "$pid"; emu_rc=$?; done
	set -e
	[ -z "$tailer" ] || wait "$tailer" || true
	[ -z "$log_" ] || cp serial.txt "$log_"
}

# manifest_guests GUEST_DIR FILTER [ONLY]: reads guest/manifest (the test guests, one
# line each) and sets KEEL_GUEST_NAMES (space-separated), KEEL_GUEST_MODULES (run-*.sh
# --modules list), KEEL_GUEST_CMDLINE (guest= descriptions) and KEEL_GUEST_VCPUS (their
# vCPU count). FILTER: all, or demo (the lines marked yes: what make run shows). ONLY:
# just that guest (dies if the manifest has no such line).
# shellcheck disable=SC2034
manifest_guests() {
	local g=$1 filter=$2 only=${3:-} name image keys demo vcpus
	KEEL_GUEST_NAMES="" KEEL_GUEST_MODULES="" KEEL_GUEST_CMDLINE="" KEEL_GUEST_VCPUS=0
	while read -r name image keys demo; do
		case "$name" in "" | "#"*) continue ;; esac
		[ -n "$demo" ] || die "guest/manifest: line '$name' needs NAME IMAGE KEYS DEMO"
		[ "$filter" != demo ] || [ "$demo" = yes ] || continue
		[ -z "$only" ] || [ "$name" = "$only" ] || continue
		[ -f "$g/$image" ] || die "missing $g/$image (guest $name): run 'make guests'"
		KEEL_GUEST_NAMES+="${KEEL_GUEST_NAMES:+ }$name"
		KEEL_GUEST_MODULES+="${KEEL_GUEST_MODULES:+,}$g/$image:$name"
		KEEL_GUEST_CMDLINE+="${KEEL_GUEST_CMDLINE:+ }guest=$name,image=$name"
		[ "$keys" = - ] || KEEL_GUEST_CMDLINE+=",$keys"
		vcpus=$(printf '%s\n' "$keys" | tr ',' '\n' | sed -n 's/^vcpus=//p')
		KEEL_GUEST_VCPUS=$((KEEL_GUEST_VCPUS + ${vcpus:-1}))
	done <"$KEEL_ROOT/guest/manifest"
	[ -n "$KEEL_GUEST_NAMES" ] || die "guest/manifest: no guest to run${only:+ (no line named $only)}"
}

# A layer's results as TAP and JUnit XML (guest-test.sh, mb-test.sh):
#   tap_begin LABEL TMPDIR    start counting (the JUnit cases collect in TMPDIR)
#   tap_result ok|fail|skip WHAT [WHY]
#                             prints "ok N - LABEL: WHAT", "not ok N - LABEL: WHAT # WHY"
#                             or "ok N - LABEL: WHAT # SKIP WHY"
#   tap_end SECONDS           writes build/test-results/LABEL.xml, prints "# layer LABEL:
#                             P passed, F failed, S skipped"; status 1 if anything failed
# KEEL_TAP_FAILED holds the failures so far.
# shellcheck disable=SC2034
tap_begin() {
	KEEL_TAP_LABEL=$1 KEEL_TAP_CASES="$2/junit-cases.xml"
	KEEL_TAP_N=0 KEEL_TAP_FAILED=0 KEEL_TAP_SKIPPED=0
	: >"$KEEL_TAP_CASES"
}
tap_xml() { sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\&quot;/g'; }
tap_result() {
	local label=$KEEL_TAP_LABEL what
	KEEL_TAP_N=$((KEEL_TAP_N + 1))
	what=$(printf '%s' "$2" | tap_xml)
	case "$1" in
	ok)
		echo "ok $KEEL_TAP_N - $label: $2"
		printf '  <testcase classname="keel.%s" name="%s"/>\n' "$label" "$what" >>"$KEEL_TAP_CASES"
		;;
	skip)
		echo "ok $KEEL_TAP_N - $label: $2 # SKIP $3"
		KEEL_TAP_SKIPPED=$((KEEL_TAP_SKIPPED + 1))
		printf '  <testcase classname="keel.%s" name="%s"><skipped/></testcase>\n' "$label" \
			"$what" >>"$KEEL_TAP_CASES"
		;;
	*)
		echo "not ok $KEEL_TAP_N - $label: $2${3:+ # $3}"
		KEEL_TAP_FAILED=$((KEEL_TAP_FAILED + 1))
		printf '  <testcase classname="keel.%s" name="%s"><failure message="%s"/></testcase>\n' \
			"$label" "$what" "$(printf '%s' "${3:-failed}" | tap_xml)" >>"$KEEL_TAP_CASES"
		;;
	esac
}
tap_end() {
	local label=$KEEL_TAP_LABEL n=$KEEL_TAP_N f=$KEEL_TAP_FAILED s=$KEEL_TAP_SKIPPED
	mkdir -p "$KEEL_ROOT/build/test-results"
	{
		echo '<?xml version="1.0" encoding="UTF-8"?>'
		printf '<testsuite name="%s" tests="%d" failures="%d" skipped="%d" time="%d">\n' \
			"$label" "$n" "$f" "$s" "$1"
		cat "$KEEL_TAP_CASES"
		echo '</testsuite>'
	} >"$KEEL_ROOT/build/test-results/$label.xml"
	echo "# layer $label: $((n - f - s)) passed, $f failed, $s skipped"
	[ "$f" = 0 ]
}

# bochs_judged LOG ERR ARGS...: run-bochs.sh --quiet --keep ARGS for a caller that judges
# the run itself: the serial log in LOG (CRs removed), stderr in ERR; sets KEEL_RUN_RC
# (run-bochs.sh's exit status) and KEEL_RUN_DIR (its run directory, for end_run_dir).
# shellcheck disable=SC2034
bochs_judged() {
	local log=$1 err=$2
	shift 2
	KEEL_RUN_RC=0
	"$KEEL_SCRIPTS/run-bochs.sh" --quiet --keep --log "$log" "$@" 2>"$err" || KEEL_RUN_RC=$?
	KEEL_RUN_DIR=$(sed -n 's/^.*run directory //p' "$err" | head -n 1)
	[ -f "$log" ] || : >"$log"
	sed -i 's/\r$//' "$log"
}
