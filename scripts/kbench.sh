#!/usr/bin/env bash
# Runs the kernel benchmarks (KTESTs named bench_*, which skip unless bench=1) in one
# warm-up boot and then --reps more, and prints their tables with every figure as the
# min, median and spread ((max - min) / median) over those boots, then one summary line
# per chosen figure in the format of the host benchmark (tests/host/bench.h), which
# scripts/bench-compare.sh reads:
#   BENCH NAME UNIT min=V median=V spread=P% reps=N redone=0 dirty=0
#
#   kbench.sh [--emu qemu|bochs] [--cpus N] [--reps N] [--raw] [--cmdline "k=v ..."]
#
# Today that is bench_tlb_flush_threshold (arch/x86_64/tlb_bench.c): TSC cycles of
# flushing N pages one by one or the whole space and touching them again, each cell
# the kernel's minimum of 15 runs inside one boot; the summary lines are N = 1, 16, 64
# and 512 of each column (tlb.N.COLUMN) and the two crossover points (tlb.crossover,
# tlb.crossover+64: the first N where per-page flushing costs more). Under QEMU TCG the
# TSC is the host's, so the figures move with the host's load; under Bochs it counts
# emulated instructions. --raw also prints each boot's own lines.
#
# Exit status 1 if a boot gives no PASS verdict.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

emu=qemu
cpus=1
cmdline=""
reps=7
raw=0
while [ $# -gt 0 ]; do
	case "$1" in
	--emu) need_arg "$1" $#; emu=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--reps) need_arg "$1" $#; need_uint "$1" "$2" 1 99; reps=$2; shift 2 ;;
	--raw) raw=1; shift ;;
	--cmdline) need_arg "$1" $#; cmdline=$2; shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
case "$emu" in qemu | bochs) ;; *) usage ;; esac
require_kernel

log=$(mktemp "${TMPDIR:-/tmp}/keel-kbench.XXXXXX")
lines=$(mktemp "${TMPDIR:-/tmp}/keel-kbench-lines.XXXXXX")
trap 'rm -f "$log" "$lines"' EXIT

# Boot 0 is the warm-up; boots 1..reps are kept, each line prefixed with its boot.
for boot in $(seq 0 "$reps"); do
	"$KEEL_SCRIPTS/run-$emu.sh" --quiet --cpus "$cpus" --timeout 600 \
		--cmdline "test=bench_* bench=1 cpus=$cpus${cmdline:+ $cmdline}" --log "$log" \
		>/dev/null 2>&1 || true
	tr -d '\r' <"$log" | grep -q '^KEEL-VERDICT: PASS' ||
		{ echo "kbench: boot $boot: no PASS verdict (log: $log)" >&2; trap 'rm -f "$lines"' EXIT; exit 1; }
	[ "$raw" = 0 ] || tr -d '\r' <"$log" | grep '^bench:' | sed "s/^/boot $boot: /"
	[ "$boot" = 0 ] || tr -d '\r' <"$log" | grep '^bench:' | sed "s/^/$boot /" >>"$lines"
done

# A table is a header line "bench: N COLUMN..." followed by rows of numbers; a row's
# first number is its N. Cells become figures "tlb.N.COLUMN"; the crossover line gives
# two more. Then min, median and spread over the boots of each.
awk -v reps="$reps" -v emu="$emu" -v cpus="$cpus" '
function sort(a, n,    i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
}
# Sets smin, smed, sspread from the space-separated values of figure k.
function stat(k,    n, v) {
	n = split(vals[k], v, " ")
	sort(v, n)
	smin = v[1]
	smed = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	sspread = smed > 0 ? (v[n] - v[1]) / smed * 100 : 0
}
function add(k, x) {
	if (!(k in vals)) order[++count] = k
	vals[k] = vals[k] " " x
}
function num_after(s, pat,    t) {
	if (!match(s, pat)) return ""
	t = substr(s, RSTART, RLENGTH)
	gsub(/[^0-9]/, "", t)
	return t
}
{
	boot = $1
	line = $0
	sub(/^[0-9]+ bench: */, "", line)
	n = split(line, f, " ")
	if (boot == 1 && title == "" && line ~ /cycles/) title = line
	if (f[1] == "N") {
		ncol = n
		for (i = 2; i <= n; i++) col[i] = f[i]
	} else if (f[1] ~ /^[0-9]+$/ && n == ncol) {
		if (boot == 1) rows[++nrows] = f[1]
		for (i = 2; i <= n; i++) add("tlb." f[1] "." col[i], f[i])
	} else if (line ~ /first cost more at N = /) {
		add("tlb.crossover", num_after(line, "at N = [0-9]+"))
		add("tlb.crossover+64", num_after(line, "[(]N = [0-9]+"))
	}
}
END {
	print "bench: " title
	printf "bench: method: %d %s boots (%d CPU) after a warm-up boot; each figure is min, median and spread over the boots of one cell\n", reps, emu, cpus
	printf "bench: %5s", ""
	for (i = 2; i <= ncol; i++) printf " %25s", col[i]
	printf "\nbench: %5s", "N"
	for (i = 2; i <= ncol; i++) printf " %9s %8s %6s", "min", "median", "spread"
	printf "\n"
	for (r = 1; r <= nrows; r++) {
		printf "bench: %5s", rows[r]
		for (i = 2; i <= ncol; i++) {
			stat("tlb." rows[r] "." col[i])
			printf " %9d %8d %5.1f%%", smin, smed, sspread
		}
		printf "\n"
	}
	stat("tlb.crossover"); a = smin " / " smed
	stat("tlb.crossover+64"); b = smin " / " smed
	printf "bench: per-page flushes first cost more at N = %s (with 64 other pages: %s), min / median over boots; 0: never\n", a, b
	for (k = 1; k <= count; k++) {
		key = order[k]
		if (key !~ /^tlb\.(1|16|64|512)\./ && key !~ /crossover/) continue
		stat(key)
		printf "BENCH %s %s min=%g median=%g spread=%.1f%% reps=%d redone=0 dirty=0\n", key, key ~ /crossover/ ? "pages" : "cycles", smin, smed, sspread, reps
	}
}' "$lines"
