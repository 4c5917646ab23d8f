#!/usr/bin/env bash
# User-program test layer: boots Keel under QEMU TCG (or Bochs) with every program of
# tests/user/manifest as a Multiboot module and one user= option per line, all running
# at once, and reads the kernel's verdict for each ("user verdict: NAME: PASS|FAIL
# (...)"): one TAP line per program, PASS when it ended as its expect= says (by default
# status 0 and no TAP "not ok" of its own). A line whose cpus= differs from --cpus, or
# whose emu= names another emulator, is reported as "# SKIP". One more result: the run itself ends with the kernel's pass
# exit code (no panic, every program judged).
# Prints TAP ("ok N - LABEL: NAME"); last line "# layer LABEL: P passed, F failed,
# S skipped"; exit status 1 on any failure. The run directory is removed when the run
# passes (KEEL_KEEP_RUNS=1 keeps it) and kept otherwise.
#
#   user-test.sh [--name LABEL] [--emu qemu|bochs] [--cpus N] [--timeout SECONDS]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

cpus=1
emu=qemu
timeout_s=240
label=""
while [ $# -gt 0 ]; do
	case "$1" in
	--name) need_arg "$1" $#; label=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--emu) need_arg "$1" $#; emu=$2; shift 2 ;;
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
need_uint --cpus "$cpus" 1
case "$emu" in
qemu) rc_pass=$KEEL_QEMU_RC_PASS ;;
bochs) rc_pass=$KEEL_BOCHS_RC_PASS ;;
*) usage ;;
esac
: "${label:=user-$emu-${cpus}cpu}"

manifest="$KEEL_ROOT/tests/user/manifest"
cmdline=""
modules=""
names=()
skipped=()
declare -A seen_image=()
while read -r name rest; do
	case "$name" in "" | "#"*) continue ;; esac
	desc="$name"
	only=""
	only_emu=""
	for kv in $rest; do
		case "$kv" in
		cpus=*) only=${kv#cpus=} ;;
		emu=*) only_emu=${kv#emu=} ;;
		*) desc="$desc,$kv" ;;
		esac
	done
	if [ -n "$only" ] && [ "$cpus" != "$only" ]; then
		skipped+=("$name (runs with $only CPUs)")
		continue
	fi
	if [ -n "$only_emu" ] && [ "$emu" != "$only_emu" ]; then
		skipped+=("$name (runs under $only_emu)")
		continue
	fi
	image=$(printf '%s\n' "$rest" | tr ' ' '\n' | sed -n 's/^image=//p')
	[ -f "$KEEL_ROOT/build/user/$image.elf" ] || die "build/user/$image.elf missing (make)"
	if [ -z "${seen_image[$image]:-}" ]; then
		seen_image[$image]=1
		modules="${modules:+$modules,}$KEEL_ROOT/build/user/$image.elf:$image"
	fi
	cmdline="${cmdline:+$cmdline }user=$desc"
	names+=("$name")
done <"$manifest"

log=$(mktemp "${TMPDIR:-/tmp}/keel-user.XXXXXX")
trap 'rm -f "$log" "$log.err"' EXIT
set +e
"$KEEL_SCRIPTS/run-$emu.sh" --quiet --keep --cpus "$cpus" --timeout "$timeout_s" \
	--cmdline "$cmdline" --modules "$modules" --log "$log" 2>"$log.err"
rc=$?
set -e
run_dir=$(sed -n 's/^.*run directory //p' "$log.err" | head -n 1)

n=0
passed=0
failed=0
result() { # result OK TEXT
	n=$((n + 1))
	if [ "$1" = 1 ]; then
		passed=$((passed + 1))
		echo "ok $n - $label: $2"
	else
		failed=$((failed + 1))
		echo "not ok $n - $label: $2"
	fi
}
for name in "${names[@]}"; do
	line=$(grep -a "^user verdict: $name: " "$log" | head -n 1 | tr -d '\r' || true)
	case "$line" in
	*": PASS "*) result 1 "$name" ;;
	"") result 0 "$name # no verdict" ;;
	*) result 0 "$name # ${line#user verdict: }" ;;
	esac
done
result "$([ "$rc" = "$rc_pass" ] && echo 1 || echo 0)" \
	"the run ends with the pass exit code (status $rc)"
for s in ${skipped[@]+"${skipped[@]}"}; do
	n=$((n + 1))
	echo "ok $n - $label: $s # SKIP not this layer"
done
if [ "$failed" != 0 ]; then
	grep -a -e '^\[' -e '^user' -e 'PANIC' "$log" | grep -v '\] ok ' | tail -n 40 | sed 's/^/# /'
	echo "# run directory kept: $run_dir"
elif [ -n "$run_dir" ] && [ "${KEEL_KEEP_RUNS:-0}" != 1 ]; then
	rm -rf "$run_dir"
fi
echo "1..$n"
echo "# layer $label: $passed passed, $failed failed, ${#skipped[@]} skipped"
[ "$failed" = 0 ]
