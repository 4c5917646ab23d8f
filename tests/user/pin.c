/*
 * A pinned buffer outlives a concurrent munmap: thread A's pin_hold system call pins a
 * page and keeps it until thread B's munmap of that page sleeps on the pin; A then
 * finds its bytes and frames unchanged and returns; only then B's munmap completes, and
 * the page is gone. Repeated ROUNDS times.
 */
#include "keel_user.h"

#define ROUNDS 20

struct round {
	long page;
	long unmap_rc;
	uint32_t go; /* [a] B may munmap */
};

static long unmapper(void *arg)
{
	struct round *r = arg;

	while (!__atomic_load_n(&r->go, __ATOMIC_ACQUIRE))
		;
	r->unmap_rc = sys_munmap(r->page, UPAGE);
	return 0;
}

static bool one_round(int i)
{
	struct round r = { 0 };
	long tid, held;

	r.page = sys_mmap(0, UPAGE, KEEL_PROT_READ | KEEL_PROT_WRITE);
	if (r.page < 0)
		return false;
	memset((void *)r.page, 0x5A + i, UPAGE);
	tid = user_thread_start(unmapper, &r);
	__atomic_store_n(&r.go, 1, __ATOMIC_RELEASE);
	/* B's munmap can only sleep on our pin: pin_hold returns once it does */
	held = sys_pin_hold((const void *)r.page, UPAGE);
	user_thread_join(tid);
	return held == (long)UPAGE && r.unmap_rc == 0 && sys_write((void *)r.page, 1) == -14;
}

int main(const char *arg)
{
	int ok = 0;

	(void)arg;
	tap_plan(1);
	for (int i = 0; i < ROUNDS; i++)
		ok += one_round(i);
	tap_ok(ok == ROUNDS, "%d of %d rounds: munmap waited for the pin, then took effect", ok,
	       ROUNDS);
	return tap_done();
}
