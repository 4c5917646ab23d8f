#!/usr/bin/env bash
# Differential platform layer: every Multiboot test kernel of guest/mb/manifest runs
# under QEMU TCG (the reference PC: -machine pc, isa-debug-exit at 0xF4) and as a Keel
# guest under Bochs (all kernels in one boot, each its own guest), and the two verdicts
# are compared. A kernel's verdict on either side is its TAP lines ("ok ..." /
# "not ok ...") and its end marker "# mb-exit V" (guest/mb/mb.c), which it prints just
# before writing V to port 0xF4. A kernel passes when both sides print the same TAP
# lines, both end with V = 0, and the port ended the run (QEMU: odd exit status; Keel:
# the guest "exited"). A manifest line with QEMU = skip:WORDS runs under Keel only (its
# verdict must still be a pass) and says why.
# Prints TAP ("ok N - LABEL: NAME: qemu pass, keel pass"), a table of both verdicts, and
# "# layer LABEL: P passed, F failed, S skipped"; JUnit XML in build/test-results/.
# Exit status 1 on any failure.
#
#   mb-test.sh [--name LABEL] [--cpus N] [--only NAME] [--timeout SECONDS]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

label=mb-diff
cpus=2
only=""
timeout_s=300
while [ $# -gt 0 ]; do
	case "$1" in
	--name) need_arg "$1" $#; label=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--only) need_arg "$1" $#; only=$2; shift 2 ;;
	--timeout) need_arg "$1" $#; timeout_s=$2; shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
need_uint --cpus "$cpus" 1
need_uint --timeout "$timeout_s" 1
require_kernel
mdir="$KEEL_ROOT/build/guest/mb"
# A CPU model QEMU TCG runs that is close to Keel's Bochs tigerlake; TCG warns about
# the features it lacks (kept in the run's qemu.err).
QEMU_CPU=Skylake-Client

names=() smp=() keys=() qemu=()
while read -r name n k q; do
	case "$name" in "" | "#"*) continue ;; esac
	[ -n "$q" ] || die "guest/mb/manifest: line '$name' needs NAME CPUS KEYS QEMU"
	[ -z "$only" ] || [ "$name" = "$only" ] || continue
	need_uint "guest/mb/manifest: $name CPUS" "$n" 1 8
	[ -f "$mdir/$name.elf" ] || die "missing $mdir/$name.elf: run 'make'"
	names+=("$name") smp+=("$n") keys+=("$k") qemu+=("$q")
done <"$KEEL_ROOT/guest/mb/manifest"
[ ${#names[@]} -gt 0 ] || die "guest/mb/manifest: no kernel to run${only:+ (no line named $only)}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-mb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# verdict FILE: "pass" or "fail (why)" from a kernel's console lines in FILE.
verdict() {
	local end notok count
	end=$(sed -n 's/^# mb-exit \([0-9]*\).*/\1/p' "$1" | tail -n 1)
	count=$(grep -cE '^(not )?ok ' "$1" || true)
	notok=$(grep -cE '^not ok ' "$1" || true)
	if [ -z "$end" ]; then echo "fail (no end marker)"
	elif [ "$count" = 0 ]; then echo "fail (no TAP results)"
	elif [ "$notok" != 0 ]; then echo "fail ($notok of $count not ok)"
	elif [ "$end" != 0 ]; then echo "fail (ended with $end)"
	else echo "pass"
	fi
}

# Reference: QEMU, one run per kernel.
for i in "${!names[@]}"; do
	name=${names[$i]}
	: >"$tmp/$name.qemu"
	[ "${qemu[$i]}" = run ] || continue
	rc=0
	timeout -k 5 60 qemu-system-x86_64 -machine pc -accel tcg -cpu "$QEMU_CPU" -m 128 \
		-smp "${smp[$i]}" -kernel "$mdir/$name.elf" -serial "file:$tmp/$name.qemu" \
		-display none -monitor none -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=4 2>>"$tmp/qemu.err" || rc=$?
	sed -i 's/\r$//' "$tmp/$name.qemu"
	echo "$rc" >"$tmp/$name.qrc"
done

# Keel: one Bochs boot, every kernel a guest of its own.
modules="" cmdline="" vcpus=0
for i in "${!names[@]}"; do
	name=${names[$i]}
	modules+="${modules:+,}$mdir/$name.elf:$name"
	cmdline+="${cmdline:+ }guest=$name,image=$name,mode=32,mem=128M,vcpus=${smp[$i]}"
	[ "${keys[$i]}" = - ] || cmdline+=",${keys[$i]}"
	vcpus=$((vcpus + smp[i]))
done
log="$tmp/keel.log"
start=$(date +%s)
bochs_judged "$log" "$tmp/err" --cpus "$cpus" --mem 512 --timeout "$timeout_s" \
	--modules "$modules" --cmdline "$cmdline"
secs=$(($(date +%s) - start))
run_dir=$KEEL_RUN_DIR

tap_begin "$label" "$tmp"
result() { tap_result "$@"; }

table=()
for i in "${!names[@]}"; do
	name=${names[$i]}
	# The guest's console lines, without Keel's "[NAME] " prefix.
	sed -n "s/^\[$name\] //p" "$log" >"$tmp/$name.keel"
	kv=$(verdict "$tmp/$name.keel")
	ended=$(grep -m1 -E "^guest $name: (exited|killed)" "$log" || true)
	case "$ended" in
	"guest $name: exited"*) ;;
	"") kv="fail (did not end)" ;;
	*) kv="fail (${ended#guest "$name": })" ;;
	esac
	if [ "${qemu[$i]}" != run ]; then
		why=${qemu[$i]#skip:}
		table+=("$(printf '# %-12s %-28s %s' "$name" "skipped (${why//-/ })" "$kv")")
		if [ "$kv" = pass ]; then result skip "$name: keel pass" "qemu: ${why//-/ }"
		else result fail "$name: keel $kv" "Keel must pass even where QEMU cannot run it"; fi
		continue
	fi
	qv=$(verdict "$tmp/$name.qemu")
	qrc=$(cat "$tmp/$name.qrc")
	[ $((qrc % 2)) = 1 ] || [ "$qv" != pass ] || qv="fail (QEMU exit status $qrc)"
	table+=("$(printf '# %-12s %-28s %s' "$name" "$qv" "$kv")")
	if [ "$qv" != pass ]; then
		result fail "$name: qemu $qv, keel $kv" "the reference run fails: the kernel is wrong"
	elif ! diff -q <(grep -E '^(not )?ok ' "$tmp/$name.qemu") \
		<(grep -E '^(not )?ok ' "$tmp/$name.keel") >/dev/null; then
		result fail "$name: qemu pass, keel $kv" "TAP lines differ"
		diff <(grep -E '^(not )?ok ' "$tmp/$name.qemu") \
			<(grep -E '^(not )?ok ' "$tmp/$name.keel") | sed 's/^/#   /' | head -n 20 || true
	elif [ "$kv" != pass ]; then
		result fail "$name: qemu pass, keel $kv" "Keel differs from the reference"
	else
		result ok "$name: qemu pass, keel pass"
	fi
done
echo "# kernel       QEMU TCG ($QEMU_CPU)        Keel under Bochs ($cpus CPUs, ${secs}s)"
printf '%s\n' "${table[@]}"
if grep -q "KEEL-DONE" "$log"; then result ok "Keel ends normally after the kernels"
else result fail "Keel ends normally after the kernels" "no KEEL-DONE (bochs exit $KEEL_RUN_RC)"; fi

if [ "$KEEL_TAP_FAILED" != 0 ]; then
	echo "# run directory: $run_dir"
	tail -n 30 "$log" | sed 's/^/#   /'
else
	end_run_dir "$run_dir" 1
fi
tap_end "$secs"
