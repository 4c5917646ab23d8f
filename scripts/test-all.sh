#!/usr/bin/env bash
# Runs the test layers and adds up their results.
#
#   test-all.sh [--cmdline "k=v ..."] [LAYER...]
#
# Layers: host (make -C tests/host run, TAP), selftest (failure paths, QEMU),
# user-qemu-Ncpu, user-bochs-Ncpu (the user programs of tests/user/manifest:
# scripts/user-test.sh),
# qemu-Ncpu (QEMU TCG), bochs-Ncpu (Bochs, VMX), guests-bochs-Ncpu (the demo guests
# under Bochs on N CPUs: scripts/guest-test.sh; the 1-CPU one also checks a CPU
# without EPT), mb-diff (the Multiboot test kernels of guest/mb under QEMU TCG and as
# Keel guests under Bochs, verdicts compared: scripts/mb-test.sh), tlb-MODE-Ncpu (the TLB fallbacks: the TLB/paging kernel tests,
# $TLB_TESTS, under Bochs in a mode that takes another flush path than bochs-Ncpu):
#   tlb-sandybridge  model corei7_sandy_bridge_2600k: PCIDs without INVPCID, no 1G pages
#   tlb-penryn       model core2_penryn_t9600: no PCIDs, no 1G pages
#   tlb-noinvpcid    tigerlake with pcid=noinvpcid
#   tlb-pcidoff      tigerlake with pcid=off
# gdb-bochs-Ncpu: a scripted gdb session against Keel's gdb stub under Bochs
# (scripts/debug-test.sh).
# Every kernel layer (qemu, bochs, tlb) also checks the boot line naming the TLB flush
# path: invpcid (bochs), untagged (qemu: TCG has no PCIDs), the mode's own (tlb), and
# "no 1 GiB pages" on the two older models.
# Default: host selftest qemu-1cpu qemu-4cpu bochs-1cpu bochs-2cpu guests-bochs-1cpu
# guests-bochs-2cpu mb-diff tlb-sandybridge-2cpu tlb-penryn-2cpu tlb-noinvpcid-2cpu
# tlb-pcidoff-2cpu gdb-bochs-2cpu user-qemu-1cpu user-qemu-2cpu user-qemu-4cpu
# user-bochs-2cpu.
# The layers overlap, each in its own directories: the host layer (make -j with one
# job per core; its longest binaries start first) runs in the background from the
# start; beside it the QEMU layers (selftest, qemu) run one after the other (QEMU's
# clock is the host's: they share the cores with the host layer only), then all Bochs
# layers (bochs, guests-bochs, mb-diff, tlb: virtual time) at once. Everything is CPU-bound, so
# the cores stay busy until the end.
# Prints every layer's results, then a summary with each layer's time and counts, then
# last the line "N passed, N failed, N skipped" alone. A TAP result "ok ... # SKIP why"
# counts as skipped, not passed. Exit status 1 if anything failed or a layer ran no
# test (no result, or only skipped ones).
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
	guests-bochs-1cpu guests-bochs-2cpu mb-diff tlb-sandybridge-2cpu tlb-penryn-2cpu
	tlb-noinvpcid-2cpu tlb-pcidoff-2cpu gdb-bochs-2cpu user-qemu-1cpu user-qemu-2cpu
	user-qemu-4cpu user-bochs-2cpu)

# The kernel tests whose path depends on PCIDs, INVPCID, 1 GiB pages or NX: TLB
# flushes and space switches, host spaces, the kernel table, the frames under it.
TLB_TESTS='tlb_*,vm_space_*,kmap_*,frame_*'

# flush_path NAME PCID INVPCID OPTION: the ERE for init.c's boot line "cpu: TLB flush
# path NAME (...) [CPU: PCID yes|no, INVPCID yes|no; pcid=OPTION]".
flush_path() {
	printf '^cpu: TLB flush path %s .*\\[CPU: PCID %s, INVPCID %s; pcid=%s\\]$' "$@"
}
NO_1G='^cpu: no 1 GiB pages'

out=$(mktemp -d "${TMPDIR:-/tmp}/keel-test-all.XXXXXX")
trap 'rm -rf "$out"' EXIT

# run_layer LAYER: runs one layer; its TAP goes to $out/LAYER.tap, status to .rc.
run_layer() {
	local layer=$1 emu cpus rc=0 t0
	t0=$(date +%s%N)
	case "$layer" in
	host)
		# Results get the layer name like the kernel layers: "ok 3 - host: name".
		make -s --no-print-directory -j"$(nproc)" -C "$KEEL_ROOT/tests/host" run \
			2>"$out/$layer.err" | sed -E 's/^((not )?ok( [0-9]+)?)( - | |$)/\1 - host: /' \
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
		local expect=()
		case "$emu:$cmdline" in
		*pcid=*) ;; # the user chose the mode
		qemu:*) expect=(--expect "$(flush_path untagged no no auto)") ;;
		bochs:*) expect=(--expect "$(flush_path invpcid yes yes auto)") ;;
		esac
		"$KEEL_SCRIPTS/ktest.sh" --emu "$emu" --cpus "$cpus" --name "$layer" \
			${cmdline:+--cmdline "$cmdline"} ${expect[@]+"${expect[@]}"} \
			>"$out/$layer.tap" 2>&1 || rc=$?
		;;
	tlb-*)
		local mode=${layer#tlb-} model=tigerlake opt="" expect=()
		cpus=${mode##*-}
		mode=${mode%-*}
		cpus=${cpus%cpu}
		is_uint "$cpus" || die "bad layer '$layer' (try tlb-penryn-2cpu)"
		need_uint "layer $layer: cpu count" "$cpus" 1
		case "$mode" in
		sandybridge)
			model=corei7_sandy_bridge_2600k
			expect=(--expect "$(flush_path stale-mark yes no auto)" --expect "$NO_1G")
			;;
		penryn)
			model=core2_penryn_t9600
			expect=(--expect "$(flush_path untagged no no auto)" --expect "$NO_1G")
			;;
		noinvpcid)
			opt=pcid=noinvpcid
			expect=(--expect "$(flush_path stale-mark yes yes noinvpcid)")
			;;
		pcidoff)
			opt=pcid=off
			expect=(--expect "$(flush_path untagged yes yes off)")
			;;
		*) die "unknown TLB mode in '$layer' (sandybridge, penryn, noinvpcid, pcidoff)" ;;
		esac
		"$KEEL_SCRIPTS/ktest.sh" --emu bochs --model "$model" --cpus "$cpus" --name "$layer" \
			--tests "$TLB_TESTS" --cmdline "$opt${cmdline:+ $cmdline}" \
			${expect[@]+"${expect[@]}"} >"$out/$layer.tap" 2>&1 || rc=$?
		;;
	selftest)
		"$KEEL_SCRIPTS/selftest.sh" --emu qemu >"$out/$layer.tap" 2>&1 || rc=$?
		;;
	mb-diff)
		"$KEEL_SCRIPTS/mb-test.sh" --name "$layer" >"$out/$layer.tap" 2>&1 || rc=$?
		;;
	gdb-bochs-*)
		cpus=${layer#gdb-bochs-}
		cpus=${cpus%cpu}
		is_uint "$cpus" || die "bad layer '$layer' (try gdb-bochs-2cpu)"
		"$KEEL_SCRIPTS/debug-test.sh" --name "$layer" --cpus "$cpus" \
			>"$out/$layer.tap" 2>&1 || rc=$?
		;;
	user-qemu-* | user-bochs-*)
		emu=${layer#user-}
		emu=${emu%%-*}
		cpus=${layer##*-}
		cpus=${cpus%cpu}
		is_uint "$cpus" || die "bad layer '$layer' (try user-qemu-2cpu)"
		"$KEEL_SCRIPTS/user-test.sh" --name "$layer" --emu "$emu" --cpus "$cpus" \
			>"$out/$layer.tap" 2>&1 || rc=$?
		;;
	*) die "unknown layer '$layer' (host, selftest, qemu-Ncpu, bochs-Ncpu, guests-bochs-Ncpu, mb-diff, tlb-MODE-Ncpu, gdb-bochs-Ncpu, user-EMU-Ncpu)" ;;
	esac
	echo "$rc" >"$out/$layer.rc"
	echo $((($(date +%s%N) - t0) / 100000000)) >"$out/$layer.ds" # tenths of a second
}

# count LAYER: prints "passed failed skipped" of the layer's TAP (a skip is an "ok" line
# with a "# SKIP" directive).
count() {
	awk '/^ok( |$)/ { if ($0 ~ /# *[Ss][Kk][Ii][Pp]/) s++; else p++ }
		/^not ok( |$)/ { f++ }
		END { print p + 0, f + 0, s + 0 }' "$out/$1.tap"
}

# Fail early on a missing kernel rather than once per layer, and install missing
# tools once here: parallel Bochs layers would otherwise race for the dpkg lock.
for layer in "${layers[@]}"; do
	case "$layer" in
	qemu-* | selftest | user-qemu-*) require_kernel; "$KEEL_SCRIPTS/deps.sh" ensure qemu >&2 ;;
	bochs-* | guests-bochs-* | tlb-* | user-bochs-*) require_kernel; "$KEEL_SCRIPTS/deps.sh" ensure bochs iso >&2 ;;
	mb-diff) require_kernel; "$KEEL_SCRIPTS/deps.sh" ensure qemu bochs iso >&2 ;;
	gdb-bochs-*) require_kernel; "$KEEL_SCRIPTS/deps.sh" ensure bochs iso gdb >&2 ;;
	esac
done

# The host layer in the background; beside it the QEMU layers one after the other,
# then all Bochs layers at once.
pids=()
qemu_chain=()
bochs=()
for layer in "${layers[@]}"; do
	case "$layer" in
	bochs-* | guests-bochs-* | tlb-* | mb-diff | gdb-bochs-* | user-bochs-*) bochs+=("$layer") ;;
	qemu-* | selftest | user-qemu-*) qemu_chain+=("$layer") ;;
	*) run_layer "$layer" & pids+=($!) ;;
	esac
done
for layer in ${qemu_chain[@]+"${qemu_chain[@]}"}; do (run_layer "$layer") || true; done
for layer in ${bochs[@]+"${bochs[@]}"}; do (run_layer "$layer") & pids+=($!); done
for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" || true; done

total_p=0
total_f=0
total_s=0
summary=()
for layer in "${layers[@]}"; do
	echo "### layer $layer"
	[ -f "$out/$layer.tap" ] || : >"$out/$layer.tap"
	cat "$out/$layer.tap"
	read -r p f s < <(count "$layer")
	rc=$(cat "$out/$layer.rc" 2>/dev/null || echo 1)
	if [ $((p + f)) = 0 ]; then
		echo "not ok - $layer: layer ran no test ($s skipped)"
		f=1
	elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "not ok - $layer: exit status $rc without a failing test"
		f=1
	fi
	ds=$(cat "$out/$layer.ds" 2>/dev/null || echo 0)
	summary+=("# $(printf '%-20s %3d passed, %d failed, %2d skipped  (%d.%d s)' "$layer" \
		"$p" "$f" "$s" $((ds / 10)) $((ds % 10)))")
	total_p=$((total_p + p))
	total_f=$((total_f + f))
	total_s=$((total_s + s))
done
echo "### summary"
printf '%s\n' "${summary[@]}"
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" = 0 ]
