/*
 * Benchmark behind TLB_FLUSH_PAGES_MAX (kernel/mm/tlb.h): for N pages of a host space
 * that were just touched (so their translations are cached), what costs more, N
 * per-page invalidations (INVLPG, as the flusher does) plus touching the N pages
 * again, or one full flush of the space (CR3 reload with the PCID's flush, as
 * arch_tlb_flush_all does for the running space) plus touching them again? Also with
 * W = 64 other pages of the space touched afterwards (a full flush evicts them too).
 *
 * A test entry that only prints and never asserts a timing: it skips unless the
 * command line says bench=1 (make bench, scripts/kbench.sh). Cycles are TSC ticks,
 * minimum of BENCH_REPS runs.
 */
#include <arch/x86.h>
#include <keel/cmdline.h>
#include <keel/frame.h>
#include <keel/ktest.h>
#include <mm/tlb.h>
#include <mm/vm_space.h>

CMDLINE_OPT(bench, "bench", CMDLINE_BOOL, 0, 1, "run the benchmark tests (bench_*) too");

#define BENCH_VA 0x40000000ull
#define BENCH_PAGES 512
#define BENCH_OTHER 64 /* pages touched besides the N flushed ones (second table) */
#define BENCH_REPS 15

static void touch(uint64_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		(void)*(volatile uint64_t *)(BENCH_VA + (uint64_t)(first + i) * PAGE_SIZE);
}

/* Cycles of flushing pages [0, n) (per page, or the whole space) and touching pages
 * [0, n) and [BENCH_PAGES, BENCH_PAGES + other) again; minimum over BENCH_REPS runs. */
static uint64_t measure(struct vm_space *s, unsigned n, unsigned other, bool all)
{
	uint64_t best = ~0ull;
	for (unsigned r = 0; r < BENCH_REPS; r++) {
		touch(0, n);
		touch(BENCH_PAGES, other);
		unsigned long flags = arch_irq_save();
		uint64_t t0 = rdtsc();
		if (all)
			arch_tlb_flush_all(s);
		else
			arch_tlb_flush_range(s, VA(BENCH_VA), (uint64_t)n * PAGE_SIZE);
		touch(0, n);
		touch(BENCH_PAGES, other);
		uint64_t t = rdtsc() - t0;
		arch_irq_restore(flags);
		best = MIN(best, t);
	}
	return best;
}

/* Maps `count` separate 4 KiB frames (4 KiB leaves) at BENCH_VA in s. */
static int bench_space_init(struct vm_space *s, struct frame **f, unsigned count)
{
	int err = 0;
	for (unsigned i = 0; i < count && !err; i++) {
		f[i] = frame_alloc(0, FRAME_USER);
		err = f[i] ? vm_space_map(s, VA(BENCH_VA + (uint64_t)i * PAGE_SIZE), PAGE_SIZE,
					  frame_pa(f[i]), PT_PROP(PT_PROP_R | PT_PROP_USER))
			   : -1;
	}
	return err;
}

static void bench_space_fini(struct vm_space *s, struct frame **f, unsigned count)
{
	vm_space_fini(s);
	for (unsigned i = 0; i < count && f[i]; i++)
		if (frame_put(f[i]))
			frame_free(f[i], 0);
}

KTEST(bench_tlb_flush_threshold)
{
	static const unsigned sizes[] = { 1,  2,  4,  8,  12, 16,  20,	24,  28,  32, 40,
					  48, 56, 64, 80, 96, 128, 192, 256, 384, 512 };
	static struct frame *f[BENCH_PAGES + BENCH_OTHER];
	unsigned crossover[2] = { 0, 0 };
	struct vm_space s;

	if (!cmdline_get_bool("bench", false))
		KT_SKIP("benchmark: bench=1 (make bench)");
	for (unsigned i = 0; i < ARRAY_SIZE(f); i++)
		f[i] = NULL;
	KT_ASSERT_EQ(vm_space_init(&s, VM_SPACE_HOST_USER, 0), 0);
	int err = bench_space_init(&s, f, ARRAY_SIZE(f));
	if (!err)
		vm_space_activate(&s);
	printk("bench: tlb flush threshold, TSC cycles (min of %u), PCIDs %s, INVPCID %s\n",
	       BENCH_REPS, host_tlb_caps.pcid ? "on" : "off", host_tlb_caps.invpcid ? "on" : "off");
	printk("bench: %5s %12s %12s %12s %12s\n", "N", "invlpg+N", "full+N", "invlpg+N+64",
	       "full+N+64");
	for (unsigned i = 0; i < ARRAY_SIZE(sizes) && !err; i++) {
		unsigned n = sizes[i];
		uint64_t c[4];
		for (unsigned k = 0; k < 4; k++)
			c[k] = measure(&s, n, k >= 2 ? BENCH_OTHER : 0, k % 2);
		printk("bench: %5u %12llu %12llu %12llu %12llu\n", n, (unsigned long long)c[0],
		       (unsigned long long)c[1], (unsigned long long)c[2],
		       (unsigned long long)c[3]);
		for (unsigned w = 0; w < 2; w++)
			if (!crossover[w] && c[2 * w] > c[2 * w + 1])
				crossover[w] = n;
	}
	printk("bench: per-page flushes first cost more at N = %u (N = %u with 64 other pages); "
	       "0: never up to %u\n",
	       crossover[0], crossover[1], BENCH_PAGES);
	if (!err)
		vm_space_deactivate(&s);
	bench_space_fini(&s, f, ARRAY_SIZE(f));
	KT_ASSERT_EQ(err, 0);
}
