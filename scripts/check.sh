#!/usr/bin/env bash
# `make check`: clang-format (check mode) and static analysis (cppcheck) over all C
# sources and headers of the project, and shellcheck over scripts/*.sh when it is
# installed. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null; git ls-files --others --exclude-standard '*.c' '*.h')
[ "${#files[@]}" -gt 0 ] || { echo "check: no sources"; exit 1; }
status=0
echo "check: clang-format on ${#files[@]} files"
if ! clang-format --dry-run -Werror "${files[@]}"; then
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
