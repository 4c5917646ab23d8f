/*
 * eptdump: the EPT dump lists exactly the pages a guest touched. Writes a pattern of
 * pages in a window of fresh RAM at 16 MiB (runs of 3, 1, 4 and 1 pages), asks Keel for
 * the dump (KEEL_HC_DUMP: VMCS, EPT and exit statistics on Keel's console, the EPT
 * ranges also into a buffer) and checks the ranges inside the window against the
 * pattern: same starts, ends, rights and 4 KiB leaves, nothing else. Then gives one
 * page of a run back and checks the run split in two. Run with populate=demand,
 * mem >= 17M. Expected: exit status 0.
 */
#include "keel_guest.h"

#define WIN MiB(16)
#define WIN_END MiB(17)
#define PAGE 4096ul
#define RANGES_MAX 64

struct range {
	uint64_t start, end, kind;
};

static struct range got[RANGES_MAX];

/* The pages touched, as [first, last) page runs relative to WIN. */
static const unsigned runs[][2] = { { 0, 3 }, { 5, 6 }, { 9, 13 }, { 40, 41 } };
/* After page 10 is given back. */
static const unsigned runs_after[][2] = { { 0, 3 }, { 5, 6 }, { 9, 10 }, { 11, 13 }, { 40, 41 } };

/* Compares the ranges inside the window with want[n]. Returns true if equal. */
static bool window_matches(long count, const unsigned (*want)[2], unsigned n)
{
	unsigned k = 0;
	bool ok = count > 0 && count <= RANGES_MAX;
	for (long i = 0; ok && i < count; i++) {
		const struct range *r = &got[i];
		if (r->end <= WIN || r->start >= WIN_END)
			continue;
		bool same = k < n && r->start == WIN + want[k][0] * PAGE &&
			    r->end == WIN + want[k][1] * PAGE && r->kind == (PAGE | 7);
		if (!same)
			printf("eptdump: range %ld [0x%lx, 0x%lx) kind 0x%lx unexpected\n", i,
			       (unsigned long)r->start, (unsigned long)r->end,
			       (unsigned long)r->kind);
		ok = same;
		k++;
	}
	return ok && k == n;
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)arg, (void)vcpu, (void)vcpu_count;
	tap_plan(4);
	for (unsigned i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		for (unsigned p = runs[i][0]; p < runs[i][1]; p++)
			*(volatile uint8_t *)(WIN + p * PAGE) = (uint8_t)p;
	long n = keel_dump(KEEL_DUMP_VMCS | KEEL_DUMP_EPT | KEEL_DUMP_EXITS, got, sizeof(got));
	tap_ok(n > 0 && n <= RANGES_MAX, "the dump returned %ld ranges", n);
	tap_ok(window_matches(n, runs, 4), "the window lists exactly the 9 pages touched");
	tap_ok(keel_mem_release(WIN + 10 * PAGE, PAGE) == 0, "page 10 given back");
	n = keel_dump(KEEL_DUMP_EPT, got, sizeof(got));
	tap_ok(window_matches(n, runs_after, 5), "after the release its run is split in two");
	return tap_done();
}
