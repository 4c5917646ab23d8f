#!/usr/bin/env bash
# `make check`: clang-format (check mode) and static analysis (cppcheck) over all C
# sources and headers of the project, and shellcheck over scripts/*.sh when it is
# installed. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null; git ls-files --others --exclude-standard '*.c' '*.h')
[ "${#files[@]}" -gt 0 ] || { echo "check: no sources"; exit 1; }
status=0
# Generated from include/uapi/hypercalls.tab and syscalls.tab: checked against them,
# not formatted.
generated=(include/uapi/keel_hypercall.h guest/lib/keel_hypercalls.h vmm/hypercall_table.c
	include/uapi/keel_syscall.h tests/user/lib/keel_syscalls.h kernel/user/syscall_table.c)
echo "check: hypercall ABI files match include/uapi/hypercalls.tab"
if ! scripts/gen-hypercalls.sh --check; then
	echo "check: generated hypercall files are stale; run scripts/gen-hypercalls.sh" >&2
	status=1
fi
mapfile -t formatted < <(printf '%s\n' "${files[@]}" | grep -vxF -f <(printf '%s\n' "${generated[@]}"))
echo "check: clang-format on ${#formatted[@]} files"
if ! clang-format --dry-run -Werror "${formatted[@]}"; then
	echo "check: formatting differs; run 'make format'" >&2
	status=1
fi
# unknownEvaluationOrder is suppressed: cppcheck 2.10 reads the compound literals of
# VA()/PA() in an argument list as side effects and flags every such call.
echo "check: cppcheck"
if ! cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	--inline-suppr --suppress=missingIncludeSystem --std=c11 \
	-D__x86_64__ -DKEEL_DEBUG -D__must_check= -Iinclude -Ikernel -Iarch/x86_64/include \
	--suppress=unknownMacro --suppress=preprocessorErrorDirective \
	--suppress=unknownEvaluationOrder \
	"${files[@]}"; then
	echo "check: cppcheck found problems" >&2
	status=1
fi
if command -v shellcheck >/dev/null 2>&1; then
	echo "check: shellcheck"
	if ! shellcheck -x scripts/*.sh; then
		echo "check: shellcheck found problems" >&2
		status=1
	fi
else
	echo "check: shellcheck not installed, scripts not checked"
fi
[ "$status" -eq 0 ] && echo "check: clean"
exit "$status"
