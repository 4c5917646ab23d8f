#!/usr/bin/env bash
# Runs the kernel test layer once in one emulator configuration and judges it.
#
#   ktest.sh --emu qemu|bochs [--cpus N] [--cmdline "k=v ..."] [--timeout SECONDS]
#            [--name LABEL] [--model NAME] [--accel tcg|kvm] [--mem MB]
#            [--tests GLOB[,GLOB]] [--expect ERE]...
#
# Boots with "test=GLOBS cpus=N CMDLINE" (GLOBS: --tests, default *), waits for the
# kernel to exit and re-prints its TAP results with LABEL in each name
# ("ok 3 - qemu-4cpu: frame_alloc_exhaust"). The run passes only if the verdict line
# says PASS, the emulator's exit status is the kernel's pass code, no result is
# "not ok" and the results match the plan. Without a verdict (hang, triple fault,
# panic) it prints "not ok - LABEL: no verdict (...)" and the end of the serial log as
# "# " comments. Each --expect ERE (awk regex) is one more result: "ok - LABEL: log
# has /ERE/" if a line of the serial log matches it, else "not ok" followed by the
# log's "cpu:" lines (e.g. to check which TLB flush path the kernel chose).
# Last line: "# layer LABEL: P passed, F failed, S skipped" (a test reported
# "ok ... # SKIP why" is counted as skipped, not passed). Exit status 1 on any failure.
# The run directory is removed when the run passes (KEEL_KEEP_RUNS=1 keeps it) and
# kept and named otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

emu=""
cpus=1
cmdline=""
timeout_s=""
label=""
tests="*"
expects=()
extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	--emu) need_arg "$1" $#; emu=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--cmdline) need_arg "$1" $#; cmdline=$2; shift 2 ;;
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	--name) need_arg "$1" $#; label=$2; shift 2 ;;
	--tests) need_arg "$1" $#; tests=$2; shift 2 ;;
	--expect) need_arg "$1" $#; expects+=("$2"); shift 2 ;;
	--model | --accel | --mem) need_arg "$1" $#; extra+=("$1" "$2"); shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
case "$emu" in
qemu) rc_pass=$KEEL_QEMU_RC_PASS; : "${timeout_s:=120}" ;;
bochs) rc_pass=$KEEL_BOCHS_RC_PASS; : "${timeout_s:=600}" ;;
*) usage ;;
esac
need_uint --cpus "$cpus" 1
: "${label:=$emu-${cpus}cpu}"

log=$(mktemp "${TMPDIR:-/tmp}/keel-ktest.XXXXXX")
trap 'rm -f "$log"' EXIT
set +e
"$KEEL_SCRIPTS/run-$emu.sh" --quiet --keep --cpus "$cpus" --timeout "$timeout_s" \
	--cmdline "test=$tests cpus=$cpus${cmdline:+ $cmdline}" --log "$log" \
	${extra[@]+"${extra[@]}"} 2>"$log.err"
rc=$?
set -e
run_dir=$(sed -n 's/^.*run directory //p' "$log.err" | head -n 1)
rm -f "$log.err"
[ -f "$log" ] || : >"$log"

# The kernel may end lines with CR LF; other CPUs' log lines may sit in between.
# The --expect regexes go through the environment: awk -v would eat backslashes.
KEEL_KTEST_EXPECT=$(printf '%s\n' ${expects[@]+"${expects[@]}"}) \
	awk -v label="$label" -v rc="$rc" -v rc_pass="$rc_pass" \
	-v timeout_rc="$KEEL_RC_TIMEOUT" -v timeout_s="$timeout_s" -v run_dir="$run_dir" '
function prefix(line,    head, rest) {
	# "ok 3 - name # SKIP why" -> "ok 3 - LABEL: name # SKIP why"
	if (match(line, /^(not )?ok [0-9]+( - | )?/)) {
		head = substr(line, 1, RLENGTH); rest = substr(line, RLENGTH + 1)
		sub(/( - | )$/, "", head)
		return head " - " label ": " rest
	}
	return line
}
function fail(why) { print "not ok - " label ": " why; failed++; bad = 1 }
{ sub(/\r$/, ""); lines[NR] = $0 }
/^(ok|not ok) [0-9]+/ {
	print prefix($0)
	if ($1 != "ok") failed++
	else if ($0 ~ /# *[Ss][Kk][Ii][Pp]/) skipped++
	else passed++
	next
}
/^1\.\.[0-9]+/ { plan = substr($1, 4) + 0; has_plan = 1; next }
# "KEEL-VERDICT: PASS 40 passed, 0 failed, 1 skipped": skipped tests print "ok ... # SKIP"
# and are not among the passed ones.
/^KEEL-VERDICT: (PASS|FAIL) [0-9]+ passed, [0-9]+ failed/ {
	verdict = $2; v_pass = $3 + 0; v_fail = $5 + 0; v_skip = 0
	if ($8 == "skipped") v_skip = $7 + 0
	next
}
/^KEEL-VERDICT: / { other_verdict = $0; next }
/^KEEL PANIC/ { if (panic == "") panic = $0 }
END {
	reason = (rc == timeout_rc) ? "timeout after " timeout_s "s" : "exit code " rc
	if (verdict == "" && other_verdict != "") {
		# e.g. "KEEL-VERDICT: FAIL (panic)": the kernel stopped before its summary.
		fail("kernel gave \"" other_verdict "\" (" reason (panic != "" ? ", " panic : "") ")")
	} else if (verdict == "") {
		fail("no verdict (reason: " reason (panic != "" ? ", " panic : "") ")")
	} else {
		if (rc != rc_pass && verdict == "PASS")
			fail("verdict PASS but " reason ", expected " rc_pass)
		if (verdict == "FAIL" && failed == 0)
			fail("verdict FAIL without a failing test")
		if (v_pass != passed || v_fail != failed - bad || v_skip != skipped)
			fail(sprintf("verdict counts %d/%d/%d but saw %d passed, %d failed, %d skipped (lost output?)",
				     v_pass, v_fail, v_skip, passed, failed - bad, skipped))
		if (!has_plan)
			fail("no TAP plan line")
		else if (plan != passed + skipped + failed - bad)
			fail("plan 1.." plan " but saw " passed + skipped + failed - bad " results")
		if (passed + skipped + failed == 0)
			fail("no tests ran")
	}
	if (bad) {
		if (run_dir != "") print "# run directory: " run_dir
		print "# last lines of the serial log:"
		first = NR > 30 ? NR - 29 : 1
		for (i = first; i <= NR; i++) print "#   " lines[i]
	}
	n = split(ENVIRON["KEEL_KTEST_EXPECT"], expect, "\n")
	for (k = 1; k <= n; k++) {
		if (expect[k] == "") continue
		for (i = 1; i <= NR && lines[i] !~ expect[k]; i++) ;
		if (i <= NR) { print "ok - " label ": log has /" expect[k] "/"; passed++; continue }
		print "not ok - " label ": no line of the serial log matches /" expect[k] "/"
		failed++
		print "# its cpu: lines:"
		for (i = 1; i <= NR; i++) if (lines[i] ~ /^cpu: /) print "#   " lines[i]
	}
	printf "# layer %s: %d passed, %d failed, %d skipped\n", label, passed, failed, skipped
	exit failed > 0 ? 1 : 0
}' "$log" && status=0 || status=$?
# Passing runs leave nothing behind unless KEEL_KEEP_RUNS=1; failing ones say where.
end_run_dir "$run_dir" "$([ "$status" = 0 ] && echo 1 || echo 0)"
exit "$status"
