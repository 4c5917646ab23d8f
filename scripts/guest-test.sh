#!/usr/bin/env bash
# Guest test layer: boots Keel under Bochs (VMX) with the guests of build/guest/ as
# Multiboot modules and checks the serial log for each guest's output, its end status
# and the summary table. Prints TAP ("ok N - LABEL: what"); last line
# "# layer LABEL: P passed, F failed". Exit status 1 on any failure.
#
#   guest-test.sh [--name LABEL] [--cpus N] [--timeout SECONDS]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

label=guests-bochs
cpus=1
timeout_s=120
while [ $# -gt 0 ]; do
	case "$1" in
	--name) need_arg "$1" $#; label=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
gdir="$KEEL_ROOT/build/guest"
for g in hello efault; do
	[ -f "$gdir/$g.bin" ] || die "missing $gdir/$g.bin: run 'make guests'"
done

log=$(mktemp "${TMPDIR:-/tmp}/keel-guests.XXXXXX")
trap 'rm -f "$log" "$log.err"' EXIT
# Three guests: two good ones and one whose image does not exist (must be reported,
# the others still run).
set +e
"$KEEL_SCRIPTS/run-bochs.sh" --quiet --cpus "$cpus" --timeout "$timeout_s" --log "$log" \
	--modules "$gdir/hello.bin:hello,$gdir/efault.bin:efault" \
	--cmdline "guest=hello,image=hello,mem=4M guest=missing,image=nosuch guest=efault,image=efault,mem=4M" \
	2>"$log.err"
rc=$?
set -e
run_dir=$(sed -n 's/^.*run directory //p' "$log.err" | head -n 1)
[ -f "$log" ] || : >"$log"
sed -i 's/\r$//' "$log"

n=0
failed=0
check() { # check "what" "fixed string expected in the serial log"
	n=$((n + 1))
	if grep -qF -- "$2" "$log"; then
		echo "ok $n - $label: $1"
	else
		echo "not ok $n - $label: $1 # missing line: $2"
		failed=$((failed + 1))
	fi
}
check "bochs exited normally" "KEEL-DONE"
check "VMX preflight and VMXON" "vmx: VMX on, $cpus CPUs in VMX root operation"
check "hello prints through the UART" "[hello] hello from the UART"
check "hello prints through console_write" "[hello] hello from the console_write hypercall"
check "hello's CPUID/demand-paging checks pass" "[hello] hello: all checks passed"
check "hello exits with status 7 (exit hypercall)" "guest hello: exited with status 7"
check "hello's VMCALL rate is measured" "VMCALL round trips/s"
check "a missing image is reported, others still run" "vmm: guest #1 not started: no Multiboot module with that image name"
check "wild console_write buffers return -EFAULT" "[efault] efault: 3 wild console_write buffers got -EFAULT"
check "efault exits with status 0 (port 0xF4)" "guest efault: exited with status 0"
check "summary table lists both guests" "guest summary (2 guests):"
n=$((n + 1))
if grep -qE '^  hello +exited +status 7 .*VMCALL=' "$log" && grep -qE '^  efault +exited +status 0 ' "$log"; then
	echo "ok $n - $label: summary rows show status and exits by reason"
else
	echo "not ok $n - $label: summary rows show status and exits by reason"
	failed=$((failed + 1))
fi
grep -E 'VMCALL round trips/s' "$log" | sed 's/^/# /' || true

# A CPU with VMX but without EPT (Bochs core2_penryn_t9600): the preflight must say in
# words what is missing and what to do, and the kernel must still boot and end cleanly.
plog="$log.penryn"
prc=0
"$KEEL_SCRIPTS/run-bochs.sh" --quiet --cpus 1 --timeout "$timeout_s" --log "$plog" \
	--model core2_penryn_t9600 --modules "$gdir/hello.bin:hello" \
	--cmdline "guest=hello,image=hello,mem=4M" 2>/dev/null || prc=$?
sed -i 's/\r$//' "$plog" 2>/dev/null || : >"$plog"
n=$((n + 1))
if [ "$prc" = "$KEEL_BOCHS_RC_PASS" ] && grep -qF "vmx: EPT NO" "$plog" &&
	grep -qF "vmx: no guest can run: secondary processor-based (EPT) controls" "$plog" &&
	grep -qF "modprobe kvm_intel nested=1" "$plog" && grep -qF "KEEL-DONE" "$plog"; then
	echo "ok $n - $label: VMX without EPT (core2_penryn): preflight explains, kernel still boots"
else
	echo "not ok $n - $label: VMX without EPT (core2_penryn): preflight explains, kernel still boots # exit $prc"
	tail -n 20 "$plog" | sed 's/^/#   /'
	failed=$((failed + 1))
fi
rm -f "$plog"
if [ "$failed" != 0 ] || [ "$rc" != "$KEEL_BOCHS_RC_PASS" ]; then
	[ "$rc" = "$KEEL_BOCHS_RC_PASS" ] || { n=$((n + 1)); echo "not ok $n - $label: bochs exit status $rc"; failed=$((failed + 1)); }
	echo "# run directory: $run_dir"
	tail -n 30 "$log" | sed 's/^/#   /'
elif [ "${KEEL_KEEP_RUNS:-0}" != 1 ] && [ -d "$run_dir" ]; then
	rm -rf "$run_dir"
fi
echo "# layer $label: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
