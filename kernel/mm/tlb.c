/*
 * The TLB flusher (see tlb.h): the flush hook of vm_space batches, the lazy flush on
 * activation, and the counters. Knows struct vm_space's masks and generation, not how
 * a CPU flushes (arch_* hooks) nor how calls reach other CPUs (smp_call).
 *
 * Ordering. A flusher bumps s->flush_gen and then reads s->active; an activating CPU sets
 * its bit in s->active and then reads s->flush_gen. All four accesses are sequentially
 * consistent atomics (no fences: ThreadSanitizer does not model them), so at least one
 * side sees the other: either the flusher includes the CPU in its cross-call, or the
 * CPU sees the new generation and flushes itself before it loads the space. The page-table edits that the flush makes
 * visible happen before the bump (under the cursor's node locks).
 */
#include <keel/check.h>
#include <keel/smp.h>

#include "tlb.h"
#include "vm_space.h"

uint64_t tlb_flush_pages_max = TLB_FLUSH_PAGES_MAX;
struct tlb_stats tlb_stats_global;

#define TLB_STAT_ADD(s, field, n)                                                   \
	do {                                                                        \
		__atomic_fetch_add(&(s)->stats.field, (n), __ATOMIC_RELAXED);       \
		__atomic_fetch_add(&tlb_stats_global.field, (n), __ATOMIC_RELAXED); \
	} while (0)

/* What every target CPU of one dispatch flushes. Lives on the dispatcher's stack. */
struct tlb_request {
	struct vm_space *s;
	const struct pt_flush_range *range;
	unsigned range_count;
	bool all;
};

void tlb_stats_read(const struct tlb_stats *src, struct tlb_stats *out)
{
	out->dispatch_count = __atomic_load_n(&src->dispatch_count, __ATOMIC_RELAXED);
	out->call_count = __atomic_load_n(&src->call_count, __ATOMIC_RELAXED);
	out->ipi_count = __atomic_load_n(&src->ipi_count, __ATOMIC_RELAXED);
	out->range_flush_count = __atomic_load_n(&src->range_flush_count, __ATOMIC_RELAXED);
	out->full_flush_count = __atomic_load_n(&src->full_flush_count, __ATOMIC_RELAXED);
	out->lazy_flush_count = __atomic_load_n(&src->lazy_flush_count, __ATOMIC_RELAXED);
}

/* Flushes r on the running CPU. Any context; may run with interrupts disabled. */
static void tlb_flush_here(const struct tlb_request *r)
{
	if (r->all) {
		arch_tlb_flush_all(r->s);
		TLB_STAT_ADD(r->s, full_flush_count, 1);
		return;
	}
	for (unsigned i = 0; i < r->range_count; i++)
		arch_tlb_flush_range(r->s, r->range[i].start, r->range[i].len);
	TLB_STAT_ADD(r->s, range_flush_count, r->range_count);
}

/* Cross-call target: runs on each remote CPU running the space. */
static void tlb_flush_call(void *arg)
{
	tlb_flush_here(arg);
}

/*
 * True if the batch is better flushed whole: the engine gave up on the list, the space
 * has no per-address invalidation (EPT: INVEPT is single-context at best), or the
 * ranges cover more than tlb_flush_pages_max pages.
 */
static bool tlb_want_all(const struct vm_space *s, const struct pt_flush_batch *b)
{
	uint64_t pages = 0;
	uint64_t max = __atomic_load_n(&tlb_flush_pages_max, __ATOMIC_RELAXED);

	if (b->flush_all || s->kind != VM_SPACE_HOST_USER)
		return true;
	for (unsigned i = 0; i < b->range_count; i++) {
		pages += b->range[i].len >> PAGE_SHIFT;
		if (pages > max)
			return true;
	}
	return false;
}

/*
 * The flush hook. Called by the engine with or without node locks held, interrupts
 * enabled; returns only after every CPU running the space has flushed (the engine frees
 * what the batch deferred right after). Takes no lock.
 */
static void tlb_flush(struct pt_flush_batch *b)
{
	struct vm_space *s = b->ctx;
	struct tlb_request r = {
		.s = s,
		.range = b->range,
		.range_count = b->range_count,
		.all = tlb_want_all(s, b),
	};
	unsigned me = arch_cpu_id();
	cpumask_t active, remote;

	TLB_STAT_ADD(s, dispatch_count, 1);
	__atomic_add_fetch(&s->flush_gen, 1, __ATOMIC_SEQ_CST);
	active.bits = __atomic_load_n(&s->active.bits, __ATOMIC_SEQ_CST);
	if (cpumask_test(active, me))
		tlb_flush_here(&r);
	remote = cpumask_andnot(active, cpumask_of(me));
	if (cpumask_is_empty(remote))
		return;
#ifdef KEEL_DEBUG
	/* waiting for acknowledgements with interrupts off can deadlock (tlb.h) */
	CHECK(arch_irqs_enabled());
#endif
	unsigned n = smp_call(remote, tlb_flush_call, &r, true);
	TLB_STAT_ADD(s, call_count, 1);
	TLB_STAT_ADD(s, ipi_count, n);
}

const struct pt_flush_ops tlb_flush_ops = { .flush = tlb_flush };

void tlb_retire(struct vm_space *s)
{
	struct tlb_request r = { .s = s, .all = true };
	cpumask_t cached = cpumask_read(&s->cached);

	CHECK(cpumask_is_empty(cpumask_read(&s->active)));
	if (cpumask_is_empty(cached))
		return;
#ifdef KEEL_DEBUG
	CHECK(arch_irqs_enabled());
#endif
	unsigned n = smp_call(cached, tlb_flush_call, &r, true);
	TLB_STAT_ADD(s, call_count, 1);
	TLB_STAT_ADD(s, ipi_count, n);
	s->cached = CPUMASK_NONE;
}

void tlb_batch_init(struct pt_flush_batch *b, struct vm_space *s)
{
	pt_flush_batch_init(b, &tlb_flush_ops, s);
}

void tlb_activate(struct vm_space *s)
{
	unsigned me = arch_cpu_id();
	uint64_t gen;

	CHECK(me < MAX_CPUS);
	__atomic_fetch_or(&s->active.bits, 1ull << me, __ATOMIC_SEQ_CST);
	gen = __atomic_load_n(&s->flush_gen, __ATOMIC_SEQ_CST); /* see "Ordering" */
	if (!cpumask_test(cpumask_read(&s->cached), me)) {
		/* never ran it (or flushed its tag since): nothing of s can be cached */
		cpumask_set_atomic(&s->cached, me);
	} else if (__atomic_load_n(&s->synced_gen[me], __ATOMIC_RELAXED) != gen) {
		arch_tlb_flush_all(s);
		TLB_STAT_ADD(s, full_flush_count, 1);
		TLB_STAT_ADD(s, lazy_flush_count, 1);
	}
	__atomic_store_n(&s->synced_gen[me], gen, __ATOMIC_RELAXED);
}
