#!/usr/bin/env bash
# Compares two benchmark runs by their summary lines, the lines
#   BENCH NAME UNIT min=V median=V spread=P% reps=N redone=N dirty=N
# that end `make bench` (its whole output is kept in build/bench/last.txt; copy it away
# before the next run). Any text around the summary lines is ignored, so OLD and NEW
# may be saved outputs of `make bench`, tests/host/build/opt/bench_pt or kbench.sh.
#
#   bench-compare.sh [--min] OLD NEW
#
# For each figure found in both: the old and the new median (--min: minimum), new/old,
# and a verdict: "better" or "worse" when the change is larger than the larger of the
# two spreads ((max - min) / median of each run), "~" when it is within them. Lower
# is better, except for unit "x" (speed-ups). Figures found in only one file are
# listed after the table; if a file repeats a figure, its last line counts.
#
# Exit status 0 after a comparison (it judges nothing), 2 on bad arguments or when a
# file has no summary line.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

field=median
files=()
while [ $# -gt 0 ]; do
	case "$1" in
	--min) field=min; shift ;;
	-h | --help) usage ;;
	-*) die "unknown option $1" ;;
	*) files+=("$1"); shift ;;
	esac
done
[ "${#files[@]}" -eq 2 ] || usage
for f in "${files[@]}"; do
	[ -r "$f" ] || die "cannot read $f"
	grep -q '^BENCH ' "$f" || die "$f has no summary lines (BENCH ...)"
done

# Both files through one awk: the first fills old[], the second new[]; figures are
# printed in the order of their first appearance in OLD, then NEW's new ones.
awk -v field="$field" '
function value(line, key,    n, i, kv) {
	n = split(line, kv, " ")
	for (i = 4; i <= n; i++)
		if (index(kv[i], key "=") == 1)
			return substr(kv[i], length(key) + 2)
	return ""
}
FNR == 1 { file++ }
/^BENCH / {
	name = $2
	if (!(name in seen)) { seen[name] = 1; order[++count] = name }
	unit[name] = $3
	v = value($0, field); s = value($0, "spread"); sub(/%$/, "", s)
	if (file == 1) { old[name] = v; olds[name] = s } else { new[name] = v; news[name] = s }
}
END {
	printf "%-22s %-8s %12s %12s %8s  %s\n", "figure", "unit", "old " field, "new " field, "new/old", "verdict"
	for (i = 1; i <= count; i++) {
		n = order[i]
		if (!(n in old) || !(n in new)) continue
		r = old[n] != 0 ? new[n] / old[n] : 0
		noise = (olds[n] > news[n] ? olds[n] : news[n]) / 100
		good = unit[n] == "x" ? r > 1 : r < 1
		d = r > 1 ? r - 1 : 1 - r
		verdict = d <= noise ? "~" : good ? "better" : "worse"
		printf "%-22s %-8s %12.4g %12.4g %8.3f  %s\n", n, unit[n], old[n], new[n], r, verdict
	}
	for (i = 1; i <= count; i++) {
		n = order[i]
		if (!(n in new)) print "only in OLD: " n
		else if (!(n in old)) print "only in NEW: " n
	}
}' "${files[0]}" "${files[1]}"
