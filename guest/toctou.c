/*
 * toctou: a hypercall acts only on its copy of a descriptor, and the pages it works on
 * stay pinned until it is done. Run with vcpus=2, mem=8M.
 *   vCPU 0 copies 1 MiB from SRC to DST with KEEL_HC_MEM_OP (one exit per 4 KiB, so
 *   it takes hundreds of exits). As soon as the copy has started (DST's first byte
 *   arrived), vCPU 1 rewrites the descriptor (a 4 KiB fill of DECOY with 0xEE) and
 *   releases SRC's last page, which must wait until the copy is done.
 * Checks: the copy returns 1 MiB and DST holds SRC's pattern everywhere (the last page
 * too: it was still SRC's page while it was copied); DECOY is untouched (the rewritten
 * descriptor was never read); the release returned 0 after waiting on the pin (vCPU 1's
 * VMCALL retries, from KEEL_HC_EXIT_STATS); afterwards the released page reads zero.
 * Also: refused descriptors (-EINVAL, -EFAULT), a fill, exit_stats' bounds.
 * Expected: TAP all ok, exit status 0. Mutations that must fail it: reading the
 * descriptor again at each step, or not pinning the source.
 */
#include "keel_guest.h"

#define PAGE 4096u
#define LEN (1024u * 1024u)
#define SRC ((uint8_t *)0x200000)
#define DST ((uint8_t *)0x400000)
#define DECOY ((uint8_t *)0x600000)
#define FILLED ((uint8_t *)0x601000)
#define WAIT_SPINS (1u << 28) /* bound on waiting for the other vCPU (not a timing) */
#define EINVAL_RET (-22)      /* the hypercall ABI uses Linux errno values */
#define EFAULT_RET (-14)

static uint64_t desc[4] __attribute__((aligned(64)));
static struct {
	unsigned started, helper_done;
	long release_rc;
	uint64_t helper_retries;
} sync __attribute__((aligned(PAGE)));

static uint8_t pattern(unsigned i)
{
	return (uint8_t)(i * 7 + 3);
}

/* vCPU 1: once the copy runs, rewrite the descriptor and release SRC's last page. */
static void helper(void)
{
	uint64_t stats[3] = { 0 };
	if (wait_flag(&sync.started, WAIT_SPINS)) {
		for (unsigned spins = 0;
		     spins < WAIT_SPINS && *(volatile uint8_t *)DST != pattern(0); spins++)
			cpu_pause();
		for (unsigned i = 0; i < 100; i++) {
			desc[0] = KEEL_MEM_OP_FILL;
			desc[1] = (uintptr_t)DECOY;
			desc[2] = 0xEE;
			desc[3] = PAGE;
		}
		sync.release_rc = keel_mem_release((uintptr_t)(SRC + LEN - PAGE), PAGE);
		(void)keel_exit_stats(stats, sizeof(stats));
	}
	sync.helper_retries = stats[2];
	__atomic_store_n(&sync.helper_done, 1, __ATOMIC_RELEASE);
	for (;;)
		cpu_pause();
}

static long mem_op(uint64_t op, const void *dst, uint64_t src, uint64_t len)
{
	desc[0] = op;
	desc[1] = (uintptr_t)dst;
	desc[2] = src;
	desc[3] = len;
	return keel_mem_op(desc);
}

static unsigned first_mismatch(void)
{
	for (unsigned i = 0; i < LEN; i++)
		if (DST[i] != pattern(i))
			return i;
	return LEN;
}

static void refused_descriptors(void)
{
	long overlap = mem_op(KEEL_MEM_OP_COPY, SRC + 16, (uintptr_t)SRC, PAGE);
	long empty = mem_op(KEEL_MEM_OP_COPY, DST, (uintptr_t)SRC, 0);
	long too_long = mem_op(KEEL_MEM_OP_FILL, DST, 0, KEEL_MEM_OP_MAX + 1);
	long outside = mem_op(KEEL_MEM_OP_FILL, (void *)0x7FF000, 0, 2 * PAGE);
	long bad_op = mem_op(7, DST, (uintptr_t)SRC, PAGE);
	long bad_byte = mem_op(KEEL_MEM_OP_FILL, DST, 0x100, PAGE);
	long wild = keel_mem_op((const void *)(1ull << 30));
	tap_ok(overlap == EINVAL_RET && empty == EINVAL_RET && too_long == EINVAL_RET &&
		   outside == EINVAL_RET && bad_op == EINVAL_RET && bad_byte == EINVAL_RET,
	       "bad descriptors refused (%ld %ld %ld %ld %ld %ld)", overlap, empty, too_long,
	       outside, bad_op, bad_byte);
	tap_ok(wild == EFAULT_RET, "a descriptor outside RAM gives -EFAULT (%ld)", wild);
	long fill = mem_op(KEEL_MEM_OP_FILL, FILLED, 0x33, PAGE);
	bool filled = FILLED[0] == 0x33 && FILLED[PAGE - 1] == 0x33;
	tap_ok(fill == PAGE && filled, "a fill writes its byte (%ld)", fill);
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)arg;
	if (vcpu == 1)
		helper();
	if (vcpu != 0)
		for (;;)
			cpu_pause();

	tap_plan(10);
	if (vcpu_count < 2) {
		tap_ok(false, "needs vcpus=2 (got %u)", vcpu_count);
		return tap_done();
	}
	for (unsigned i = 0; i < LEN; i++)
		SRC[i] = pattern(i);
	__atomic_store_n(&sync.started, 1, __ATOMIC_RELEASE);
	long copied = mem_op(KEEL_MEM_OP_COPY, DST, (uintptr_t)SRC, LEN);
	tap_ok(copied == LEN, "mem_op copied %ld bytes (want %u)", copied, LEN);
	bool helped = wait_flag(&sync.helper_done, WAIT_SPINS);
	unsigned bad = first_mismatch();
	tap_ok(bad == LEN, "DST holds SRC's pattern everywhere (first mismatch at %u of %u)", bad,
	       LEN);
	tap_ok(DECOY[0] == 0 && DECOY[PAGE - 1] == 0,
	       "the rewritten descriptor was never read (decoy 0x%x)", DECOY[0]);
	tap_ok(helped && sync.release_rc == 0, "the release of a source page returned %ld",
	       sync.release_rc);
	tap_ok(sync.helper_retries > 0,
	       "the release waited for the copy's pin (%llu VMCALL retries on vCPU 1)",
	       (unsigned long long)sync.helper_retries);
	tap_ok(SRC[LEN - 1] == 0 && SRC[LEN - PAGE] == 0, "the released page reads zero after");
	refused_descriptors();
	static uint64_t stats[4 + KEEL_EXIT_REASONS];
	long got = keel_exit_stats(stats, sizeof(stats));
	long big = keel_exit_stats(stats, KEEL_EXIT_STATS_BYTES + 8);
	tap_ok(got == KEEL_EXIT_STATS_BYTES && big == EINVAL_RET && stats[1] > 0 &&
		   stats[4 + 18] >= stats[1],
	       "exit_stats: %ld bytes, %llu hypercalls, %llu VMCALL exits; too long: %ld", got,
	       (unsigned long long)stats[1], (unsigned long long)stats[4 + 18], big);
	return tap_done();
}
