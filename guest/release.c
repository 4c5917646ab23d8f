/*
 * release: KEEL_HC_MEM_RELEASE gives guest pages back, and no vCPU can reach the old
 * page afterwards. Run with vcpus=2 (vCPU 1 helps in step 4; with more, the rest idle).
 *   1. a written page, released, reads back as a fresh zeroed page, populated again;
 *   2. bad arguments are refused with -EINVAL (unaligned, empty, outside RAM);
 *   3. releasing a page never touched is fine;
 *   4. vCPU 1 keeps reading a page it wrote (its CPU holds the translation) while
 *      vCPU 0 releases it; once the release returned, vCPU 1 must read the new zero
 *      page, not the old bytes through a stale EPT translation. On 2 CPUs the vCPUs
 *      run at once, so this needs the release's TLB shootdown (IPI + INVEPT).
 * Expected: TAP all ok, exit status 0.
 */
#include "keel_guest.h"

#define PAGE 4096u
#define WAIT_SPINS (1u << 27) /* bound on waiting for the other vCPU (not a timing) */
#define EINVAL_RET (-22)      /* the hypercall ABI uses Linux errno values */

static uint8_t page[3][PAGE] __attribute__((aligned(PAGE)));
/* flags in their own page: releasing page[] must not touch them */
static struct {
	unsigned ready, go, done;
	unsigned seen_before, seen_after;
} sync __attribute__((aligned(PAGE)));

static long release(const void *p, unsigned long len)
{
	return keel_mem_release((uintptr_t)p, len);
}

/* vCPU 1: writes page[1], then reads it until told to look once more. */
static void helper(void)
{
	volatile uint8_t *p = page[1];

	p[0] = 0xAB;
	sync.seen_before = p[0];
	__atomic_store_n(&sync.ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&sync.go, __ATOMIC_ACQUIRE))
		(void)p[0]; /* keeps this CPU's translation of the page in use */
	sync.seen_after = p[0];
	__atomic_store_n(&sync.done, 1, __ATOMIC_RELEASE);
	for (;;)
		cpu_pause();
}

static bool all_zero(const uint8_t *p)
{
	for (unsigned i = 0; i < PAGE; i++)
		if (p[i])
			return false;
	return true;
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)arg;
	if (vcpu == 1)
		helper();
	if (vcpu != 0)
		for (;;)
			cpu_pause();

	tap_plan(8);
	for (unsigned i = 0; i < PAGE; i++)
		page[0][i] = 0x5A;
	long before = keel_guest_pages(), rc = release(page[0], PAGE);
	tap_ok(rc == 0, "release of a written page returns %ld", rc);
	bool zero = all_zero(page[0]);
	long after = keel_guest_pages();
	/* >=: vCPU 1 may populate its own stack meanwhile */
	tap_ok(zero && after >= before + 1,
	       "it reads back as a fresh zero page (%s), populated again (%ld -> %ld pages)",
	       zero ? "zero" : "old bytes", before, after);

	long e1 = release(page[0] + 8, PAGE), e2 = release(page[0], 100);
	long e3 = release(page[0], 0), e4 = release((void *)(1ull << 40), PAGE);
	tap_ok(e1 == EINVAL_RET && e2 == EINVAL_RET && e3 == EINVAL_RET && e4 == EINVAL_RET,
	       "unaligned, short, empty and outside-RAM releases refused (%ld %ld %ld %ld)", e1, e2,
	       e3, e4);
	tap_ok(release(page[2], PAGE) == 0, "releasing a page never touched is fine");

	if (vcpu_count < 2) {
		tap_ok(false, "step 4 needs vcpus=2 (got %u)", vcpu_count);
		tap_ok(false, "skipped");
		tap_ok(false, "skipped");
		tap_ok(false, "skipped");
		return tap_done();
	}
	bool ready = wait_flag(&sync.ready, WAIT_SPINS);
	tap_ok(ready && sync.seen_before == 0xAB, "vCPU 1 wrote and read its page (0x%x)",
	       sync.seen_before);
	rc = release(page[1], PAGE);
	tap_ok(rc == 0, "release while vCPU 1 reads the page returns %ld", rc);
	__atomic_store_n(&sync.go, 1, __ATOMIC_RELEASE);
	bool done = wait_flag(&sync.done, WAIT_SPINS);
	tap_ok(done, "vCPU 1 looked again");
	tap_ok(done && sync.seen_after == 0,
	       "vCPU 1 reads the new zero page after the release (0x%x; 0xab: stale translation)",
	       sync.seen_after);
	return tap_done();
}
