#!/usr/bin/env bash
# Runs the kernel benchmarks (KTESTs named bench_*, which skip unless bench=1) once and
# prints their "bench:" lines.
#
#   kbench.sh [--emu qemu|bochs] [--cpus N] [--cmdline "k=v ..."]
#
# Exit status 1 if the run gives no PASS verdict.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

emu=qemu
cpus=1
cmdline=""
while [ $# -gt 0 ]; do
	case "$1" in
	--emu) need_arg "$1" $#; emu=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; cpus=$2; shift 2 ;;
	--cmdline) need_arg "$1" $#; cmdline=$2; shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
case "$emu" in qemu | bochs) ;; *) usage ;; esac
require_kernel

log=$(mktemp "${TMPDIR:-/tmp}/keel-kbench.XXXXXX")
trap 'rm -f "$log"' EXIT
"$KEEL_SCRIPTS/run-$emu.sh" --quiet --cpus "$cpus" --timeout 600 \
	--cmdline "test=bench_* bench=1 cpus=$cpus${cmdline:+ $cmdline}" --log "$log" || true
tr -d '\r' <"$log" | grep '^bench:' || true
tr -d '\r' <"$log" | grep -q '^KEEL-VERDICT: PASS' || { echo "kbench: no PASS verdict" >&2; exit 1; }
