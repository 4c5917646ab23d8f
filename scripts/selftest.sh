#!/usr/bin/env bash
# The "selftest" layer: the kernel's failure paths, end to end. Each case boots Keel to
# fail on purpose and checks that it fails the right way: a readable dump, the failing
# verdict and exit code, never a hang or a pass. Prints TAP; last line "# layer
# selftest-EMU: P passed, F failed, 0 skipped"; exit 1 on any failure. A case's run
# directory is removed when the case passes and kept and named when it fails.
#
#   selftest.sh [--emu qemu|bochs]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

emu=qemu
while [ $# -gt 0 ]; do
	case "$1" in
	--emu) need_arg "$1" $#; emu=$2; shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown option $1" ;;
	esac
done
case "$emu" in
qemu) fail_rc=35 ;;
bochs) fail_rc=1 ;;
*) die "--emu takes qemu or bochs" ;;
esac
require_kernel

n=0
failed=0
log=$(mktemp "${TMPDIR:-/tmp}/keel-selftest.XXXXXX")
trap 'rm -f "$log" "$log.err"' EXIT

# check NAME CPUS CMDLINE PATTERN...: boots, expects the failure exit code and every
# PATTERN (grep -E) in the serial log.
check() {
	local name=$1 cpus=$2 cmdline=$3 rc=0 why="" run_dir
	shift 3
	n=$((n + 1))
	"$KEEL_SCRIPTS/run-$emu.sh" --quiet --keep --cpus "$cpus" --timeout 60 \
		--cmdline "$cmdline" --log "$log" >/dev/null 2>"$log.err" || rc=$?
	run_dir=$(sed -n 's/^.*run directory //p' "$log.err" | head -n 1)
	[ "$rc" = "$fail_rc" ] || why="exit code $rc, expected $fail_rc"
	for pat in "$@"; do
		[ -n "$why" ] && break
		grep -Eq -- "$pat" "$log" || why="no line matching /$pat/"
	done
	if [ -z "$why" ]; then
		echo "ok $n - selftest-$emu: $name"
		end_run_dir "$run_dir" 1
	else
		failed=$((failed + 1))
		echo "not ok $n - selftest-$emu: $name # $why"
		echo "# run directory: $run_dir"
		tail -n 20 "$log" | sed 's/^/# /'
	fi
}

check page_fault_dumped 1 "crash=pf" \
	'#PF page fault \(vector 14\) error 0x2' 'CR2 0000000000001000' \
	'page fault: not present, write' 'backtrace:' '#0 [0-9a-f]+ crash_write_unmapped\+' \
	'kmain\+0x' '^KEEL-VERDICT: FAIL'
check invalid_opcode_dumped 1 "crash=ud" '#UD invalid opcode \(vector 6\)' \
	'crash_selftest\+0x' '^KEEL-VERDICT: FAIL'
check check_failure_panics 1 "crash=panic" \
	'KEEL PANIC on CPU 0: arch/x86_64/crash.c:[0-9]+: CHECK\(.*\) failed' \
	'panic_at\+0x' '^KEEL-VERDICT: FAIL'
check hung_test_ends_by_watchdog 1 "crash=hang watchdog=1" \
	'not ok - crash=hang # watchdog: no result after 1 s' '^KEEL-VERDICT: FAIL \(watchdog\)'
check hung_cpu_with_irqs_off_seen_by_other_cpu 2 "crash=hang-irqoff watchdog=1" \
	'# watchdog: no result after 1 s \(seen from CPU 1\)' '^KEEL-VERDICT: FAIL \(watchdog\)'
check bad_cmdline_refused 1 "bogus=1 loglevel=9" \
	"bad option 'bogus=1': unknown option" "bad option 'loglevel=9': out of range" \
	'known options:' '^KEEL-VERDICT: FAIL \(bad command line\)'
check no_matching_test_fails 1 "test=no_such_test" \
	"no test matches 'no_such_test'" '^KEEL-VERDICT: FAIL 0 passed'

# The nested-KVM decision (kvm-check.sh) and the commands run.sh and run-qemu.sh build
# from it, on stub files in place of /dev/kvm, /proc/cpuinfo and kvm_intel's nested
# parameter (these machines have no nested VMX, a user's may).
stub=$(mktemp -d "${TMPDIR:-/tmp}/keel-kvm.XXXXXX")
: >"$stub/kvm"
echo "flags : fpu vme sse2" >"$stub/novmx"
echo "flags : fpu vme vmx sse2" >"$stub/vmx"
echo N >"$stub/nested-off"
echo Y >"$stub/nested-on"
# kvm DEV CPUINFO NESTED: runs CMD... (the rest) with the stubs; prints its output.
kvm() {
	local dev=$1 cpuinfo=$2 nested=$3
	shift 3
	KEEL_KVM_DEV="$stub/$dev" KEEL_CPUINFO="$stub/$cpuinfo" KEEL_KVM_NESTED="$stub/$nested" \
		"$@" 2>&1 || true
}
# kcase NAME OUTPUT PATTERN: one TAP result, PATTERN (grep -E) expected in OUTPUT.
kcase() {
	n=$((n + 1))
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		echo "ok $n - selftest-$emu: $1"
	else
		failed=$((failed + 1))
		echo "not ok $n - selftest-$emu: $1 # no line matching /$3/ in: $2"
	fi
}
k=$KEEL_SCRIPTS/kvm-check.sh
kcase kvm_missing_device_explained "$(kvm none vmx nested-on "$k")" '^no: .*does not exist'
kcase kvm_cpu_without_vmx_explained "$(kvm kvm novmx nested-on "$k")" '^no: .*no vmx flag'
kcase kvm_module_not_loaded_explained "$(kvm kvm vmx none "$k")" '^no: .*modprobe kvm_intel nested=1'
kcase kvm_nested_off_explained "$(kvm kvm vmx nested-off "$k")" '^no: kvm_intel has nested=N'
kcase kvm_nested_on_accepted "$(kvm kvm vmx nested-on "$k")" '^yes: '
kcase run_picks_kvm_with_nested_vmx "$(kvm kvm vmx nested-on "$KEEL_SCRIPTS/run.sh" --dry-run)" \
	'^run-qemu.sh --accel kvm '
kcase run_picks_bochs_without_nested "$(kvm kvm vmx nested-off "$KEEL_SCRIPTS/run.sh" --dry-run)" \
	'^run-bochs.sh '
kcase run_says_why_bochs "$(kvm kvm vmx nested-off "$KEEL_SCRIPTS/run.sh" --dry-run)" \
	'using Bochs .*nested=N'
kcase qemu_kvm_args_from_kvm_check \
	"$(kvm kvm vmx nested-on "$KEEL_SCRIPTS/run-qemu.sh" --accel kvm --dry-run)" '^-accel kvm -cpu host$'
kcase qemu_kvm_refused_with_reason \
	"$(kvm kvm novmx nested-on "$KEEL_SCRIPTS/run-qemu.sh" --accel kvm --dry-run)" 'error: --accel kvm: .*vmx'
rm -rf "$stub"

echo "# layer selftest-$emu: $((n - failed)) passed, $failed failed, 0 skipped"
[ "$failed" = 0 ]
