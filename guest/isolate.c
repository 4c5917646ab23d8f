/*
 * isolate: a guest reaches only its own RAM through any hypercall. Two copies run at
 * once (guest/manifest: isoa with arg=1, isob with arg=2), each writing its own marker
 * into the same guest-physical pages, then, while the other one does the same, uses
 * every hypercall that takes a guest pointer on them:
 *   mem_op copies its own marker; exit_stats writes into its own page; console_write
 *   reads its own bytes; mem_release gives back its own page (the other's stays);
 *   after thousands of hypercalls its pages still hold its own marker.
 * Pointers past its RAM (where another guest's or Keel's memory sits in host-physical
 * terms), at Keel's own virtual addresses, or wrapping, are refused by every one of them.
 * Run with mem=4M. Expected: TAP all ok, exit status 0.
 */
#include "keel_guest.h"

#define PAGE 4096u
#define MEM (4u << 20)
#define P ((volatile uint8_t *)0x300000)
#define Q ((volatile uint8_t *)0x301000)
#define STATS ((uint64_t *)0x302000)
#define R ((volatile uint8_t *)0x303000)
#define EFAULT_RET (-14)
#define EINVAL_RET (-22)

static uint64_t desc[4];

static bool page_is(volatile const uint8_t *p, uint8_t m)
{
	for (unsigned i = 0; i < PAGE; i++)
		if (p[i] != m)
			return false;
	return true;
}

static void fill(volatile uint8_t *p, uint8_t m)
{
	for (unsigned i = 0; i < PAGE; i++)
		p[i] = m;
}

static long mem_op(uint64_t op, uint64_t dst, uint64_t src, uint64_t len)
{
	desc[0] = op;
	desc[1] = dst;
	desc[2] = src;
	desc[3] = len;
	return keel_mem_op(desc);
}

/* Every pointer-taking hypercall refuses memory that is not this guest's RAM. */
static void refuses_foreign(void)
{
	static const uint64_t foreign[] = { MEM, MEM + PAGE, 1ull << 32, 0xFFFFFFFF80100000ull,
					    0xFEE00000 };
	unsigned bad = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(foreign); i++) {
		uint64_t a = foreign[i];
		bad += keel_console_write((const void *)a, 8) != EFAULT_RET;
		bad += keel_exit_stats((uint64_t *)a, 16) != EFAULT_RET;
		bad += keel_mem_op((const void *)a) != EFAULT_RET;
		bad += mem_op(KEEL_MEM_OP_COPY, 0x304000, a, 64) != EINVAL_RET;
		bad += mem_op(KEEL_MEM_OP_FILL, a, 0, 64) != EINVAL_RET;
		bad += keel_mem_release(a, PAGE) != EINVAL_RET;
	}
	bad += keel_console_write((const void *)(MEM - 4), 8) != EFAULT_RET; /* straddles */
	bad += keel_exit_stats((uint64_t *)~0ull, 16) != EFAULT_RET;	     /* wraps */
	tap_ok(bad == 0, "pointers outside its RAM refused by every hypercall (%u not)", bad);
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)vcpu;
	(void)vcpu_count;
	uint8_t m = (uint8_t)(0x40 + arg); /* 'A' + ... : printable */
	tap_plan(7);
	fill(P, m);
	fill(R, m);
	for (unsigned i = 0; i < 20000; i++) /* the other copy writes its marker meanwhile */
		(void)keel_nop();
	tap_ok(page_is(P, m) && page_is(R, m), "its pages kept its marker 0x%x", m);
	long copied = mem_op(KEEL_MEM_OP_COPY, (uintptr_t)Q, (uintptr_t)P, PAGE);
	tap_ok(copied == PAGE && page_is(Q, m), "mem_op copied its own marker (%ld)", copied);
	long stats = keel_exit_stats(STATS, 32);
	tap_ok(stats == 32 && STATS[1] > 20000, "exit_stats wrote its own page (%llu hypercalls)",
	       (unsigned long long)STATS[1]);
	long printed = keel_console_write((const void *)P, 8);
	keel_console_write("\n", 1);
	tap_ok(printed == 8, "console_write read its own bytes (%ld)", printed);
	long released = keel_mem_release((uintptr_t)R, PAGE);
	tap_ok(released == 0 && page_is(R, 0) && page_is(P, m),
	       "mem_release gave back its own page only (%ld)", released);
	refuses_foreign();
	for (unsigned i = 0; i < 5000; i++)
		(void)keel_nop();
	tap_ok(page_is(P, m) && page_is(Q, m), "its pages still hold its marker at the end");
	return tap_done();
}
