/*
 * touch: demand paging seen from the guest. Writes one byte per 4 KiB page of arg MiB
 * from 16 MiB and checks with keel_guest_pages() that exactly arg * 256 pages were
 * populated, then reads them back, writes them again and checks that no page was
 * added. Run with populate=demand (the default) and mem >= 16M + arg MiB, e.g.
 * mem=32M,arg=8. Expected: exit status 0 (= failures).
 */
#include "keel_guest.h"

#define TOUCH_BASE MiB(16)
#define TOUCH_MAX_MIB 1008 /* up to the end of the 1 GiB identity map */
#define PAGE 4096u

/*
 * Writes (i + pass) to byte 0 of page i. After the first pass (which only writes, so
 * that each page is populated by a write fault) counts the pages that still held
 * (i + pass - 1) and returns that count.
 */
static uintptr_t touch_pages(uintptr_t pages, unsigned pass)
{
	uintptr_t kept = 0;
	for (uintptr_t i = 0; i < pages; i++) {
		volatile uint8_t *p = (volatile uint8_t *)(TOUCH_BASE + i * PAGE);
		if (pass > 1)
			kept += *p == (uint8_t)(i + pass - 1);
		*p = (uint8_t)(i + pass);
	}
	return kept;
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	uintptr_t pages = arg * (MiB(1) / PAGE);
	(void)vcpu, (void)vcpu_count;
	tap_plan(5);
	if (!tap_ok(arg >= 1 && arg <= TOUCH_MAX_MIB, "arg = %lu MiB to touch (1..%u)",
		    (unsigned long)arg, TOUCH_MAX_MIB))
		return tap_done();
	printf("touch: writing one byte per page of [0x%lx, 0x%lx)\n", (unsigned long)TOUCH_BASE,
	       (unsigned long)(TOUCH_BASE + pages * PAGE));
	/* Nothing between the counts may touch new memory: no printing. */
	long before = keel_guest_pages();
	(void)touch_pages(pages, 1);
	long after = keel_guest_pages();
	uintptr_t kept = touch_pages(pages, 2);
	long again = keel_guest_pages();
	tap_ok(before > 0, "guest_pages before: %ld", before);
	tap_ok(after - before == (long)pages, "first touch populated %ld pages (want %lu)",
	       after - before, (unsigned long)pages);
	tap_ok(kept == pages, "%lu of %lu pages kept their byte", (unsigned long)kept,
	       (unsigned long)pages);
	tap_ok(again == after, "second touch populated %ld pages (want 0)", again - after);
	return tap_done();
}
