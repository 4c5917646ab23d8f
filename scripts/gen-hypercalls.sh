#!/usr/bin/env bash
# Generates the files of Keel's two ABIs from their tables (scripts/gen-hypercalls.awk,
# POSIX awk): include/uapi/hypercalls.tab, the one description of every hypercall:
#   include/uapi/keel_hypercall.h   numbers and constants (C and NASM)
#   guest/lib/keel_hypercalls.h     C guest stubs (keel_NAME)
#   guest/lib/keel_hypercalls.inc   NASM guest macros (keel_hc_NAME)
#   vmm/hypercall_table.c           the hypervisor's dispatch table
#   docs/hypercalls.md              the reference
# and include/uapi/syscalls.tab, the system calls of user processes:
#   include/uapi/keel_syscall.h     numbers and constants
#   tests/user/lib/keel_syscalls.h  C stubs for user programs (sys_NAME)
#   kernel/user/syscall_table.c     the kernel's dispatch table
#   docs/syscalls.md                the reference
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

gen="$KEEL_SCRIPTS/gen-hypercalls.awk"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-gen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

stale=0
# ABI:WHAT:FILE; the syscall ABI (include/uapi/syscalls.tab) uses the same generator.
for triple in hypercall:uapi:include/uapi/keel_hypercall.h \
	hypercall:guest_c:guest/lib/keel_hypercalls.h \
	hypercall:guest_nasm:guest/lib/keel_hypercalls.inc hypercall:vmm:vmm/hypercall_table.c \
	hypercall:docs:docs/hypercalls.md syscall:uapi:include/uapi/keel_syscall.h \
	syscall:user_c:tests/user/lib/keel_syscalls.h syscall:kernel:kernel/user/syscall_table.c \
	syscall:docs:docs/syscalls.md; do
	abi=${triple%%:*}
	pair=${triple#*:}
	what=${pair%%:*}
	file=${pair#*:}
	table="$KEEL_ROOT/include/uapi/${abi}s.tab"
	awk -v abi="$abi" -v what="$what" -f "$gen" "$table" >"$tmp/out" ||
		die "generating $file failed"
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
