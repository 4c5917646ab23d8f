#!/usr/bin/env bash
# Runs the test layers and adds up their results.
#
#   test-all.sh [--cmdline "k=v ..."] [LAYER...]
#
# Layers: host (make -C tests/host run, TAP), selftest (failure paths, QEMU),
# qemu-Ncpu (QEMU TCG), bochs-Ncpu (Bochs, VMX), guests-bochs-Ncpu (the demo guests
# under Bochs on N CPUs: scripts/guest-test.sh; the 1-CPU one also checks a CPU
# without EPT).
# Default: host selftest qemu-1cpu qemu-4cpu bochs-1cpu bochs-2cpu guests-bochs-1cpu
# guests-bochs-2cpu. Host and
# QEMU layers run one after the other; the Bochs layers run in parallel (each Bochs
# uses one host core, each run has its own directory).
# Prints every layer's results, then a summary, then last the line
# "N passed, N failed" alone. Exit status 1 if anything failed or a layer ran no test.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

cmdline=""
layers=()
while [ $# -gt 0 ]; do
	case "$1" in
	--cmdline) need_arg "$1" $#; cmdline=$2; shift 2 ;;
	-h | --help) usage ;;
	-*) die "unknown option $1" ;;
	*) layers+=("$1"); shift ;;
	esac
done
[ ${#layers[@]} -gt 0 ] || layers=(host selftest qemu-1cpu qemu-4cpu bochs-1cpu bochs-2cpu
	guests-bochs-1cpu guests-bochs-2cpu)

out=$(mktemp -d "${TMPDIR:-/tmp}/keel-test-all.XXXXXX")
trap 'rm -rf "$out"' EXIT

# run_layer LAYER: runs one layer; its TAP goes to $out/LAYER.tap, status to .rc.
run_layer() {
	local layer=$1 emu cpus rc=0
	case "$layer" in
	host)
		# Results get the layer name like the kernel layers: "ok 3 - host: name".
		make -s --no-print-directory -C "$KEEL_ROOT/tests/host" run \
			2>"$out/$layer.err" | sed -E 's/^((not )?ok [0-9]+)( - | )?/\1 - host: /' \
			>"$out/$layer.tap" || rc=$?
		if [ "$rc" != 0 ] && ! grep -q '^not ok' "$out/$layer.tap"; then
			sed 's/^/# /' "$out/$layer.err" | tail -n 30 >>"$out/$layer.tap"
			echo "not ok - host: make -C tests/host run exited $rc" >>"$out/$layer.tap"
		fi
		;;
	guests-bochs-*)
		cpus=${layer#guests-bochs-}
		cpus=${cpus%cpu}
		is_uint "$cpus" || die "bad layer '$layer' (try guests-bochs-2cpu)"
		need_uint "layer $layer: cpu count" "$cpus" 1
		local penryn=--no-penryn
		[ "$cpus" != 1 ] || penryn=""
		"$KEEL_SCRIPTS/guest-test.sh" --name "$layer" --cpus "$cpus" $penryn \
			>"$out/$layer.tap" 2>&1 || rc=$?
		;;
	qemu-* | bochs-*)
		emu=${layer%%-*}
		cpus=${layer#*-}
		cpus=${cpus%cpu}
		is_uint "$cpus" || die "bad layer '$layer' (try $emu-2cpu)"
		need_uint "layer $layer: cpu count" "$cpus" 1
		"$KEEL_SCRIPTS/ktest.sh" --emu "$emu" --cpus "$cpus" --name "$layer" \
			${cmdline:+--cmdline "$cmdline"} >"$out/$layer.tap" 2>&1 || rc=$?
		;;
	selftest)
		"$KEEL_SCRIPTS/selftest.sh" --emu qemu >"$out/$layer.tap" 2>&1 || rc=$?
		;;
	*) die "unknown layer '$layer' (host, selftest, qemu-Ncpu, bochs-Ncpu, guests-bochs-Ncpu)" ;;
	esac
	echo "$rc" >"$out/$layer.rc"
}

# count LAYER: prints "ok-count not-ok-count" of the layer's TAP.
count() {
	awk '/^ok( |$)/ { p++ } /^not ok( |$)/ { f++ } END { print p + 0, f + 0 }' "$out/$1.tap"
}

# Fail early on a missing kernel rather than once per layer, and install missing
# tools once here: parallel Bochs layers would otherwise race for the dpkg lock.
for layer in "${layers[@]}"; do
	case "$layer" in
	qemu-* | selftest) require_kernel; "$KEEL_SCRIPTS/deps.sh" ensure qemu >&2 ;;
	bochs-* | guests-bochs-*) require_kernel; "$KEEL_SCRIPTS/deps.sh" ensure bochs iso >&2 ;;
	esac
done

# Host and QEMU first, alone; then all Bochs layers at once.
for layer in "${layers[@]}"; do
	case "$layer" in bochs-* | guests-bochs-*) ;; *) run_layer "$layer" ;; esac
done
bochs_pids=()
for layer in "${layers[@]}"; do
	case "$layer" in bochs-* | guests-bochs-*) run_layer "$layer" & bochs_pids+=($!) ;; esac
done
for pid in ${bochs_pids[@]+"${bochs_pids[@]}"}; do wait "$pid" || true; done

total_p=0
total_f=0
summary=()
for layer in "${layers[@]}"; do
	echo "### layer $layer"
	cat "$out/$layer.tap"
	read -r p f < <(count "$layer")
	rc=$(cat "$out/$layer.rc" 2>/dev/null || echo 1)
	if [ $((p + f)) = 0 ]; then
		echo "not ok - $layer: layer produced no tests"
		f=1
	elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "not ok - $layer: exit status $rc without a failing test"
		f=1
	fi
	summary+=("# $(printf '%-12s' "$layer") $p passed, $f failed")
	total_p=$((total_p + p))
	total_f=$((total_f + f))
done
echo "### summary"
printf '%s\n' "${summary[@]}"
echo "$total_p passed, $total_f failed"
[ "$total_f" = 0 ]
