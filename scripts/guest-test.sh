#!/usr/bin/env bash
# Guest test layer: boots Keel under Bochs (VMX) with the demo guests of build/guest/
# (scripts/lib.sh demo_guests: the set `make run` shows, each with its expect=) and
# checks the serial log: each guest's own TAP verdict or output, how it ended (status,
# or kill reason for the misbehaving ones), each guest's PASS verdict, the summary
# table, and that the run passes. A second boot holds what must fail the run: broken
# descriptions and images (refused with a reason while the good guest still runs), a
# guest reporting a TAP failure, a guest ending other than its expect= says.
# Prints TAP ("ok N - LABEL: what"); last line "# layer LABEL: P passed, F failed,
# 0 skipped". Exit status 1 on any failure. The Bochs run directories are removed
# when their checks pass (KEEL_KEEP_RUNS=1 keeps them) and kept and named otherwise.
#
#   guest-test.sh [--name LABEL] [--cpus N] [--timeout SECONDS] [--no-penryn]
#
# With --cpus 1 the 21 vCPUs share one CPU (preemption-timer slices); with 2 or more
# the log must show vCPUs in guest mode on several CPUs at once. Unless --no-penryn, a
# second boot on a CPU model with VMX but no EPT checks the preflight's explanation.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

label=guests-bochs
cpus=1
timeout_s=240
penryn=1
while [ $# -gt 0 ]; do
	case "$1" in
	--name) need_arg "$1" $#; label=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	--no-penryn) penryn=0; shift ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
need_uint --cpus "$cpus" 1
gdir="$KEEL_ROOT/build/guest"
demo_guests "$gdir"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-guests.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log="$tmp/serial.log"
modules="$KEEL_DEMO_MODULES"
cmdline="$KEEL_DEMO_CMDLINE guest=eager,image=hello32,mem=4M,populate=eager"
start=$(date +%s)
set +e
"$KEEL_SCRIPTS/run-bochs.sh" --quiet --keep --cpus "$cpus" --timeout "$timeout_s" --log "$log" \
	--modules "$modules" --cmdline "$cmdline" 2>"$tmp/err"
rc=$?
set -e
secs=$(($(date +%s) - start))
run_dir=$(sed -n 's/^.*run directory //p' "$tmp/err" | head -n 1)
[ -f "$log" ] || : >"$log"
sed -i 's/\r$//' "$log"

n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $label: $1"; }
fail() { n=$((n + 1)); echo "not ok $n - $label: $1${2:+ # $2}"; failed=$((failed + 1)); }
check() { # check "what" "fixed string expected in the serial log"
	if grep -qF -- "$2" "$log"; then pass "$1"; else fail "$1" "missing line: $2"; fi
}
check_re() { # check_re "what" "extended regex expected in the serial log"
	if grep -qE -- "$2" "$log"; then pass "$1"; else fail "$1" "no line matches: $2"; fi
}
check "Keel ends normally after the guests" "KEEL-DONE"
check "VMXON on every CPU" "vmx: VMX on, $cpus CPUs in VMX root operation"
check "every good guest was built" "vmm: running 21 vCPU(s) of 17 guest(s) on $cpus CPU(s)"
# The well-behaved guests: their own checks and their exit status.
check "hello (NASM): UART, console_write, CPUID, NOP round trips" "[hello] hello: all checks passed"
check "hello exits 7 through the exit hypercall" "guest hello: exited with status 7"
check "hello64 (C, ELF64, long mode): all TAP checks pass" "[hello64] # passed 18 failed 0"
check "hello64 exits 0" "guest hello64: exited with status 0"
check "hello32 (C, ELF32, 32-bit mode): all TAP checks pass" "[hello32] # passed 18 failed 0"
check "hello32 exits 0" "guest hello32: exited with status 0"
check "real (real mode at 0000:7C00): UART and console_write" "[real] real: all checks passed"
check "real exits 33 through port 0xF4" "guest real: exited with status 33"
check "realexc: #GP injected in real mode (no error code) reaches the IVT handler" "[realexc] realexc: #GP delivered in real mode"
check "realexc exits 0" "guest realexc: exited with status 0"
check "touch: exactly the 2048 touched pages were demand-populated" "[touch] ok 3 - first touch populated 2048 pages (want 2048)"
check "touch: all TAP checks pass" "[touch] # passed 5 failed 0"
check "smp: 3 vCPUs counted to 3" "[smp] ok 1 - counter 3 = vcpu count 3"
check "smp: all TAP checks pass, exits 0" "guest smp: exited with status 0"
check "timer: HLT wake, held interrupt after STI, two held expiries without a livelock" "two held expiries both delivered"
check "timer exits 0" "guest timer: exited with status 0"
check "exc: #GP injected for refused MSR/CR writes; CR0 shadow, FS_BASE round trip" "[exc] exc: #GP for a refused MSR read"
check "exc exits 0" "guest exc: exited with status 0"
check "efault: wild console_write buffers get -EFAULT" "[efault] efault: 3 wild console_write buffers got -EFAULT"
check "efault exits 0 through port 0xF4" "guest efault: exited with status 0"
check "populate=eager: the guest's TAP checks still pass" "[eager] # passed 18 failed 0"
check "release: a released page comes back zeroed; bad ranges get -EINVAL" "[release] ok 2 - it reads back as a fresh zero page (zero)"
check "release: the other vCPU sees the zero page after the release (TLB shootdown)" "[release] ok 8 - vCPU 1 reads the new zero page after the release (0x0;"
check "release: all TAP checks pass, exits 0" "guest release: exited with status 0"
check "toctou: mem_op used its copy of the descriptor; the release waited for its pin" "[toctou] ok 5 - the release waited for the copy's pin"
check "toctou: all TAP checks pass" "[toctou] # passed 10 failed 0"
check_re "fuzz: 10,000+ random hypercalls answered as the ABI says" "^\[fuzz\] ok 1 - [0-9]+ random hypercalls answered as the ABI says"
check "fuzz: all TAP checks pass" "[fuzz] # passed 2 failed 0"
# The misbehaving guests end alone, each with its reason.
check_re "triple: killed by its triple fault" "^guest triple: ended: triple fault at RIP 0x"
check "wild: killed for writing above its RAM" "guest wild: ended: write at GPA 0x20000000 outside guest RAM [0, 0x400000)"
check "spin: killed by limit=300" "guest spin: ended: time limit of 300 ms reached"
# The summary table: one row per guest, with state, status and exits by reason.
check "the summary lists the 17 guests" "guest summary (17 guests):"
check_re "summary: hello exited 7 with its VMCALL count" "^  hello +long +exited +7 .*VMCALL=20003"
check_re "summary: real runs in real mode" "^  real +real +exited +33 "
check_re "summary: hello32 runs in 32-bit mode" "^  hello32 +32-bit +exited +0 "
check_re "summary: touch populated its 2048 pages plus the boot ones" "^  touch +long +exited +0 +1 +[0-9,]+ +20[5-9][0-9] "
check_re "summary: eager populated all 1024 pages of its 4 MiB" "^  eager +32-bit +exited +0 +1 +[0-9,]+ +1024 "
check_re "summary: triple killed, reason shown" "^  triple +reason: triple fault"
check_re "summary: smp used 3 vCPUs" "^  smp +long +exited +0 +3 "
# Verdicts: every guest did what its expect= says (the killed ones too), so the run passes.
for g in hello hello64 hello32 real realexc touch smp timer exc efault triple wild spin release toctou fuzz eager; do
	check "$g: verdict PASS" "guest $g: PASS ("
done
check "verdicts: all 17 passed" "vmm: guest verdicts: 17 passed, 0 failed, 0 skipped"
if [ "$cpus" -ge 2 ]; then
	check_re "vCPUs ran in guest mode on $cpus CPUs at the same time" "at most $cpus vCPU\(s\) were in guest mode at once"
	check_re "smp's vCPUs ran on several CPUs" "^  smp +long +exited +0 +3 +[0-9]+,[0-9]"
else
	check "one CPU: the vCPUs took turns (one in guest mode at a time)" "at most 1 vCPU(s) were in guest mode at once"
fi
grep -E 'VMCALL round trips/s' "$log" | sed 's/^/# /' || true
echo "# $label: Bochs run of the guests took ${secs}s wall"

# A CPU with VMX but without EPT (Bochs core2_penryn_t9600): the preflight must say in
# words what is missing and what to do, and the kernel must still boot and end cleanly,
# failing the run (a guest was asked for and none could run).
if [ "$penryn" = 1 ]; then
	plog="$tmp/penryn.log"
	prc=0
	"$KEEL_SCRIPTS/run-bochs.sh" --quiet --keep --cpus 1 --timeout "$timeout_s" --log "$plog" \
		--model core2_penryn_t9600 --modules "$gdir/hello.bin:hello" \
		--cmdline "guest=hello,image=hello,mem=4M" 2>"$tmp/perr" || prc=$?
	prun_dir=$(sed -n 's/^.*run directory //p' "$tmp/perr" | head -n 1)
	sed -i 's/\r$//' "$plog" 2>/dev/null || : >"$plog"
	if [ "$prc" = "$KEEL_BOCHS_RC_FAIL" ] && grep -qF "vmx: EPT NO" "$plog" &&
		grep -qF "vmx: no guest can run: secondary processor-based (EPT) controls" "$plog" &&
		grep -qF "modprobe kvm_intel nested=1" "$plog" && grep -qF "KEEL-DONE" "$plog" &&
		grep -qF "vmm: guest verdicts: 0 passed, 1 failed, 0 skipped" "$plog"; then
		pass "VMX without EPT (core2_penryn): preflight explains, kernel still boots"
		end_run_dir "$prun_dir" 1
	else
		fail "VMX without EPT (core2_penryn): preflight explains, kernel still boots" "exit $prc"
		echo "# run directory: $prun_dir"
		tail -n 20 "$plog" | sed 's/^/#   /'
	fi
fi
if [ "$rc" = "$KEEL_BOCHS_RC_PASS" ]; then pass "bochs exit status $rc"; else fail "bochs exit status $rc"; fi

# What must fail the run: refused descriptions and images (a reason each, while the good
# guest still runs), a guest whose TAP says "not ok", a guest that exits with a status
# its expect= does not allow. Each gets a FAIL verdict; the kernel reports failure.
# Not images: an ELF cut short inside its program headers, and an ELF whose class
# contradicts mode=.
head -c 80 "$gdir/hello64.elf" >"$tmp/cut.elf"
flog="$tmp/fail.log"
frc=0
fcmd="guest=good,image=hello64 guest=missing,image=nosuch guest=cut,image=cut"
fcmd+=" guest=clash,image=hello64,mode=32 guest=badkey,image=hello64,colour=red"
fcmd+=" guest=tapfail,image=tapfail guest=status,image=hello64,expect=exit:3"
"$KEEL_SCRIPTS/run-bochs.sh" --quiet --keep --cpus "$cpus" --timeout "$timeout_s" --log "$flog" \
	--modules "$gdir/hello64.elf:hello64,$gdir/tapfail.bin:tapfail,$tmp/cut.elf:cut" \
	--cmdline "$fcmd" 2>"$tmp/ferr" || frc=$?
frun_dir=$(sed -n 's/^.*run directory //p' "$tmp/ferr" | head -n 1)
sed -i 's/\r$//' "$flog" 2>/dev/null || : >"$flog"
fcheck() { # fcheck "what" "fixed string expected in the failing run's log"
	if grep -qF -- "$2" "$flog"; then pass "$1"; else fail "$1" "missing line: $2"; fi
}
fcheck "a missing module is refused" "vmm: guest missing not started: no Multiboot module named 'nosuch'"
fcheck "a truncated ELF is refused with the field at fault" "vmm: guest cut not started: ELF: program header table"
fcheck "an ELF64 image with mode=32 is refused" "vmm: guest clash not started: mode=32 does not match the ELF64 image"
fcheck "an unknown key is refused" "vmm: guest #4 not started: unknown key"
fcheck "the good guest still runs and passes" "guest good: PASS (exited with status 0"
fcheck "a refused guest fails the run" "guest missing: FAIL (not started: no Multiboot module named 'nosuch')"
fcheck "an unparsable description fails the run" "guest #4: FAIL (not started: unknown key"
fcheck "a TAP 'not ok' fails a guest that exits 0" "guest tapfail: FAIL (exited with status 0, but 1 of its 2 TAP results are not ok)"
fcheck "an exit status other than expect= fails the guest" "guest status: FAIL (exited with status 0; expected exit status 3)"
fcheck "verdicts: 1 passed, 6 failed" "vmm: guest verdicts: 1 passed, 6 failed, 0 skipped"
fcheck "Keel still ends normally" "KEEL-DONE"
if [ "$frc" = "$KEEL_BOCHS_RC_FAIL" ]; then
	pass "a run with failing guests ends with the failure exit status ($frc)"
	end_run_dir "$frun_dir" 1
else
	fail "a run with failing guests ends with the failure exit status" "exit $frc"
	echo "# run directory: $frun_dir"
fi
if [ "$failed" != 0 ]; then
	echo "# run directory: $run_dir"
	tail -n 40 "$log" | sed 's/^/#   /'
else
	end_run_dir "$run_dir" 1
fi
echo "# layer $label: $((n - failed)) passed, $failed failed, 0 skipped"
[ "$failed" = 0 ]
