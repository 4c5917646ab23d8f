/*
 * Demand paging counts exactly the touched pages: the heap and the stack are demand
 * regions of the process's space; every first touch of a page maps one zeroed frame
 * (sys_pages counts them), touching it again maps nothing, and reads of untouched heap
 * see zeros. arg= is how many heap pages to touch (default 37).
 */
#include "keel_user.h"

/* Touches `pages` stack pages below the current frame, one write each. */
static __attribute__((noinline)) long touch_stack(unsigned pages)
{
	volatile char big[16 * 4096];

	big[sizeof(big) - 1] = 0;
	for (unsigned i = 1; i < pages && i < 16; i++)
		big[sizeof(big) - 1 - i * 4096] = (char)i;
	return big[sizeof(big) - 1];
}

int main(const char *arg)
{
	long n = arg[0] ? user_atol(arg) : 37, before, after, again;
	volatile uint8_t *heap = (volatile uint8_t *)KEEL_HEAP_BASE;
	bool zero = true;

	tap_plan(5);
	before = sys_pages();
	for (long i = 0; i < n; i++) /* every third page: holes must stay unmapped */
		zero &= heap[i * 3 * UPAGE + 123] == 0;
	after = sys_pages();
	tap_ok(zero, "untouched heap reads as zero");
	tap_ok(after - before == n, "reading %ld pages mapped exactly %ld", n, after - before);
	for (long i = 0; i < n; i++)
		heap[i * 3 * UPAGE + 7] = 1;
	again = sys_pages();
	tap_ok(again == after, "writing the same pages maps none (%ld)", again - after);
	tap_ok(sys_write((const void *)(KEEL_HEAP_BASE + UPAGE), 1) == 1,
	       "a system call faults a heap page in as well");
	before = sys_pages();
	touch_stack(16);
	tap_ok(sys_pages() - before >= 15 && sys_pages() - before <= 17,
	       "the stack grows on demand (%ld pages)", sys_pages() - before);
	return tap_done();
}
