#!/usr/bin/env bash
# Generates the hypercall ABI's files from include/uapi/hypercalls.tab, the one
# description of every hypercall (scripts/gen-hypercalls.awk, POSIX awk):
#   include/uapi/keel_hypercall.h   numbers and constants (C and NASM)
#   guest/lib/keel_hypercalls.h     C guest stubs (keel_NAME)
#   guest/lib/keel_hypercalls.inc   NASM guest macros (keel_hc_NAME)
#   vmm/hypercall_table.c           the hypervisor's dispatch table
#   docs/hypercalls.md              the reference
#
#   gen-hypercalls.sh           rewrite the files that differ
#   gen-hypercalls.sh --check   change nothing; exit 1 naming each stale file
#
# The generated files are committed, so a reader sees them and a build needs no
# generator; `make` reruns this when the table changes, `make check` runs --check
# (and leaves them out of its clang-format check: the table is their source).
# Needs only awk (POSIX; Debian's mawk is in every installation).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

check=0
case "${1:-}" in
"") ;;
--check) check=1 ;;
-h | --help) usage ;;
*) die "unknown argument $1" ;;
esac

table="$KEEL_ROOT/include/uapi/hypercalls.tab"
gen="$KEEL_SCRIPTS/gen-hypercalls.awk"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-gen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

stale=0
for pair in uapi:include/uapi/keel_hypercall.h guest_c:guest/lib/keel_hypercalls.h \
	guest_nasm:guest/lib/keel_hypercalls.inc vmm:vmm/hypercall_table.c docs:docs/hypercalls.md; do
	what=${pair%%:*}
	file=${pair#*:}
	awk -v what="$what" -f "$gen" "$table" >"$tmp/out" || die "generating $file failed"
	if cmp -s "$tmp/out" "$KEEL_ROOT/$file"; then
		# Up to date: newer than the table from now on, so make does not ask again.
		[ "$check" = 1 ] || touch "$KEEL_ROOT/$file"
		continue
	fi
	if [ "$check" = 1 ]; then
		note "$file is stale: run scripts/gen-hypercalls.sh (or make)"
		stale=1
	else
		cp "$tmp/out" "$KEEL_ROOT/$file"
		note "wrote $file"
	fi
done
exit "$stale"
