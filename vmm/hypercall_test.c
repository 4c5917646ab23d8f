/*
 * Kernel tests of the generic hypercall step (hypercall.c): bounds, sign extension,
 * pinning and refusing buffers, on a guest record with real guest memory (an EPT
 * vm_space; no VMX needed: nothing is entered).
 */
#include <keel/errno.h>
#include <keel/ktest.h>
#include <keel/string.h>
#include <uapi/keel_hypercall.h>

#include "guest_mem.h"
#include "hypercall.h"

static struct guest *test_guest(void)
{
	static struct guest g;
	struct guest_desc d = { .name = "hctest", .mem = MiB(2), .vcpus = 1 };
	memset(&g, 0, sizeof(g));
	guest_init(&g, &d);
	return guest_mem_init(&g) ? NULL : &g;
}

/* Unpacks raw for hypercall nr; on success releases at once and reports what it saw. */
static int unpack(struct guest *g, unsigned nr, uint64_t a0, uint64_t a1, bool wide,
		  struct hc_args *a, bool *pinned0)
{
	const uint64_t raw[HC_ARG_MAX] = { a0, a1, 0 };
	int err = hc_args_unpack(g, &hypercalls[nr], raw, wide, a);
	*pinned0 = !err && a->pinned[0];
	if (!err)
		hc_args_release(&hypercalls[nr], a);
	return err;
}

KTEST(hypercall_args_checked_and_pinned_before_the_handler)
{
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	struct hc_args a;
	bool pinned;
	int in_ram = unpack(g, KEEL_HC_CONSOLE_WRITE, 0x1000, 16, true, &a, &pinned);
	bool was_pinned = pinned;
	int empty = unpack(g, KEEL_HC_CONSOLE_WRITE, ~0ull, 0, true, &a, &pinned);
	bool empty_pinned = pinned;
	int outside = unpack(g, KEEL_HC_CONSOLE_WRITE, MiB(2) - 8, 16, true, &a, &pinned);
	int wraps = unpack(g, KEEL_HC_CONSOLE_WRITE, ~0ull - 4, 16, true, &a, &pinned);
	int too_long =
	    unpack(g, KEEL_HC_CONSOLE_WRITE, 0x1000, KEEL_HC_CONSOLE_MAX + 1, true, &a, &pinned);
	int low_vector = unpack(g, KEEL_HC_TIMER_SET, 10, 31, true, &a, &pinned);
	int high_vector = unpack(g, KEEL_HC_TIMER_SET, 10, 256, true, &a, &pinned);
	int narrow = unpack(g, KEEL_HC_EXIT, 0xFFFFFFFFull, 0, false, &a, &pinned);
	uint64_t status = a.val[0];
	/* Outside 64-bit mode only the low 32 bits count: 1 << 32 | 40 is vector 40. */
	int upper_ignored = unpack(g, KEEL_HC_TIMER_SET, 10, (1ull << 32) | 40, false, &a, &pinned);
	uint64_t vector = a.val[1];
	guest_mem_fini(g);
	KT_ASSERT_EQ(in_ram, 0);
	KT_ASSERT(was_pinned);
	KT_ASSERT_EQ(empty, 0);
	KT_ASSERT(!empty_pinned);
	KT_ASSERT_EQ(outside, (uint64_t)-EFAULT);
	KT_ASSERT_EQ(wraps, (uint64_t)-EFAULT);
	KT_ASSERT_EQ(too_long, (uint64_t)-EINVAL);
	KT_ASSERT_EQ(low_vector, (uint64_t)-EINVAL);
	KT_ASSERT_EQ(high_vector, (uint64_t)-EINVAL);
	KT_ASSERT_EQ(narrow, 0);
	KT_ASSERT_EQ(status, (uint64_t)-1); /* exit status sign-extended from 32 bits */
	KT_ASSERT_EQ(upper_ignored, 0);
	KT_ASSERT_EQ(vector, 40);
}

/* A buffer stays pinned while the handler would run: releasing its page meets the pin
 * (-EBUSY); once the arguments are released, the page can go. */
KTEST(hypercall_buffer_pinned_until_released)
{
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	const struct hypercall *h = &hypercalls[KEEL_HC_CONSOLE_WRITE];
	const uint64_t raw[HC_ARG_MAX] = { 0x3000, 64, 0 };
	struct hc_args a;
	int err = hc_args_unpack(g, h, raw, true, &a);
	int during = err ? err : guest_mem_release(g, GPA(0x3000), PAGE_SIZE);
	if (!err)
		hc_args_release(h, &a);
	int after = guest_mem_release(g, GPA(0x3000), PAGE_SIZE);
	guest_mem_fini(g);
	KT_ASSERT_EQ(err, 0);
	KT_ASSERT_EQ(during, (uint64_t)-EBUSY);
	KT_ASSERT_EQ(after, 0);
}
