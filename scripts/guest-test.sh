#!/usr/bin/env bash
# Guest test layer: boots Keel under Bochs (VMX) with the test guests of guest/manifest
# (one line each: image, description keys with the expected outcome) and reads Keel's
# verdict for each guest: one TAP line per guest, PASS when it ended as its expect=
# says with no TAP "not ok" of its own. Around them, checks of the platform: the run
# ends and passes, every guest was built, the summary, vCPUs on several CPUs at once.
# Unless --only: a second boot holds what must fail a run (broken descriptions and
# images, refused with a reason while the good guest still runs; a guest reporting a
# TAP failure; a guest ending other than its expect= says), and with --penryn a boot on
# a CPU with VMX but no EPT checks the preflight's explanation.
# Prints TAP ("ok N - LABEL: what"); last line "# layer LABEL: P passed, F failed,
# 0 skipped"; writes JUnit XML (one test case per guest and check) to
# build/test-results/LABEL.xml. Exit status 1 on any failure. The Bochs run directories
# are removed when their checks pass (KEEL_KEEP_RUNS=1 keeps them), kept and named
# otherwise.
#
#   guest-test.sh [--name LABEL] [--cpus N] [--only NAME] [--timeout SECONDS] [--no-penryn]
#
# make guest-test ONLY=NAME runs one guest of the manifest this way.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

label=guests-bochs
cpus=1
timeout_s=240
penryn=1
only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--name) need_arg "$1" $#; label=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--only) need_arg "$1" $#; only=$2; penryn=0; shift 2 ;;
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	--no-penryn) penryn=0; shift ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
need_uint --cpus "$cpus" 1
gdir="$KEEL_ROOT/build/guest"
manifest_guests "$gdir" all "$only"
read -r -a names <<<"$KEEL_GUEST_NAMES"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-guests.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log="$tmp/serial.log"
start=$(date +%s)
bochs_judged "$log" "$tmp/err" --cpus "$cpus" --timeout "$timeout_s" \
	--modules "$KEEL_GUEST_MODULES" --cmdline "$KEEL_GUEST_CMDLINE"
rc=$KEEL_RUN_RC
secs=$(($(date +%s) - start))
run_dir=$KEEL_RUN_DIR

tap_begin "$label" "$tmp"
pass() { tap_result ok "$1"; }
fail() { tap_result fail "$1" "${2:-failed}"; }
check() { # check "what" "fixed string expected in the serial log"
	if grep -qF -- "$2" "$log"; then pass "$1"; else fail "$1" "missing line: $2"; fi
}
check_re() { # check_re "what" "extended regex expected in the serial log"
	if grep -qE -- "$2" "$log"; then pass "$1"; else fail "$1" "no line matches: $2"; fi
}
count=${#names[@]}
check "Keel ends normally after the guests" "KEEL-DONE"
check "VMXON on every CPU" "vmx: VMX on, $cpus CPUs in VMX root operation"
check "every guest was built" "vmm: running $KEEL_GUEST_VCPUS vCPU(s) of $count guest(s) on $cpus CPU(s)"
# One result per guest: Keel's verdict line, "guest NAME: PASS|FAIL|SKIP (why)".
for g in "${names[@]}"; do
	verdict=$(grep -m1 -E "^guest $g: (PASS|FAIL|SKIP) " "$log" || true)
	case "$verdict" in
	"guest $g: PASS "*) pass "${verdict#guest }" ;;
	"") fail "$g: no verdict" "Keel printed no verdict for it" ;;
	*) fail "${verdict#guest }" "see its lines [${g}] in the log" ;;
	esac
done
check "the summary lists the $count guests" "guest summary ($count guests):"
check "verdicts: all $count passed" "vmm: guest verdicts: $count passed, 0 failed, 0 skipped"
# Platform facts only the summary shows.
if [[ " ${names[*]} " == *" eager "* ]]; then
	check_re "summary: populate=eager populated all 1024 pages of its 4 MiB" "^  eager +32-bit +exited +0 +1 +[0-9,]+ +1024 "
fi
if [ "$cpus" -ge 2 ] && [ "$count" -gt 1 ]; then
	check_re "vCPUs ran in guest mode on $cpus CPUs at the same time" "at most $cpus vCPU\(s\) were in guest mode at once"
	if [[ " ${names[*]} " == *" smp "* ]]; then
		check_re "smp's vCPUs ran on several CPUs" "^  smp +long +exited +0 +3 +[0-9]+,[0-9]"
	fi
elif [ "$cpus" = 1 ]; then
	check "one CPU: the vCPUs took turns (one in guest mode at a time)" "at most 1 vCPU(s) were in guest mode at once"
fi
grep -E 'VMCALL round trips/s' "$log" | sed 's/^/# /' || true
echo "# $label: Bochs run of the guests took ${secs}s wall"

# A CPU with VMX but without EPT (Bochs core2_penryn_t9600): the preflight must say in
# words what is missing and what to do, and the kernel must still boot and end cleanly,
# failing the run (a guest was asked for and none could run).
if [ "$penryn" = 1 ]; then
	plog="$tmp/penryn.log"
	bochs_judged "$plog" "$tmp/perr" --cpus 1 --timeout "$timeout_s" \
		--model core2_penryn_t9600 --modules "$gdir/hello.bin:hello" \
		--cmdline "guest=hello,image=hello,mem=4M"
	prc=$KEEL_RUN_RC prun_dir=$KEEL_RUN_DIR
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

if [ -z "$only" ]; then
	# What must fail the run: refused descriptions and images (a reason each, while the good
	# guest still runs), a guest whose TAP says "not ok", a guest that exits with a status
	# its expect= does not allow. Each gets a FAIL verdict; the kernel reports failure.
	# Not images: an ELF cut short inside its program headers, and an ELF whose class
	# contradicts mode=.
	head -c 80 "$gdir/hello64.elf" >"$tmp/cut.elf"
	flog="$tmp/fail.log"
	fcmd="guest=good,image=hello64 guest=missing,image=nosuch guest=cut,image=cut"
	fcmd+=" guest=clash,image=hello64,mode=32 guest=badkey,image=hello64,colour=red"
	fcmd+=" guest=tapfail,image=tapfail guest=status,image=hello64,expect=exit:3"
	bochs_judged "$flog" "$tmp/ferr" --cpus "$cpus" --timeout "$timeout_s" \
		--modules "$gdir/hello64.elf:hello64,$gdir/tapfail.bin:tapfail,$tmp/cut.elf:cut" \
		--cmdline "$fcmd"
	frc=$KEEL_RUN_RC frun_dir=$KEEL_RUN_DIR
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
fi
if [ "$KEEL_TAP_FAILED" != 0 ]; then
	echo "# run directory: $run_dir"
	tail -n 40 "$log" | sed 's/^/#   /'
else
	end_run_dir "$run_dir" 1
fi
tap_end "$secs"
