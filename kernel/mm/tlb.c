/*
 * The TLB flusher (see tlb.h): the flush hook of vm_space batches, the lazy flush on
 * activation, and the counters. Knows struct vm_space's masks and generation, not how
 * a CPU flushes (arch_* hooks) nor how calls reach other CPUs (smp_call).
 *
 * Ordering. A flusher bumps s->flush_gen and then reads s->active; an activating CPU sets
 * its bit in s->active and then reads s->flush_gen. All four accesses are sequentially
 * consistent atomics (no fences: ThreadSanitizer does not model them), so at least one
 * side sees the other: either the flusher includes the CPU in its cross-call, or the
 * CPU sees the new generation and flushes itself before it loads the space. The
 * page-table edits that the flush makes visible happen before the bump (under the
 * cursor's node locks). The kernel table's targets are the online CPUs instead of
 * s->active (see tlb_targets for why no CPU can miss a kernel-table flush).
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
 * has no per-address invalidation (EPT: INVEPT is single-context at best), the ranges
 * cover more than tlb_flush_pages_max pages, or the kernel table lost nodes: per-address
 * invalidation drops the paging-structure caches of the current tag only (SDM Vol 3A
 * 4.10.4.1, INVLPG), and kernel addresses are walked under every tag.
 */
static bool tlb_want_all(const struct vm_space *s, const struct pt_flush_batch *b)
{
	uint64_t pages = 0;
	uint64_t max = __atomic_load_n(&tlb_flush_pages_max, __ATOMIC_RELAXED);

	if (b->flush_all || s->kind == VM_SPACE_GUEST_EPT)
		return true;
	if (s->kind == VM_SPACE_KERNEL && b->node_count)
		return true;
	for (unsigned i = 0; i < b->range_count; i++) {
		pages += b->range[i].len >> PAGE_SHIFT;
		if (pages > max)
			return true;
	}
	return false;
}

/*
 * CPUs that must flush before the dispatch returns: those running s, or for the kernel
 * table every online CPU and this one (which may not be marked online yet at boot).
 * A CPU becomes a target when it marks itself online; the kernel table does not change
 * while one comes online (smp_start_aps starts them one by one before any later edit).
 */
static cpumask_t tlb_targets(struct vm_space *s, unsigned me)
{
	if (s->kind == VM_SPACE_KERNEL)
		return cpumask_or(smp_online_mask(), cpumask_of(me));
	return (cpumask_t){ __atomic_load_n(&s->active.bits, __ATOMIC_SEQ_CST) };
}

/*
 * This CPU does not run s but may cache it, and `old` was the generation before this
 * dispatch. If it had synced up to `old`, it flushes r's ranges now (tagged spaces:
 * INVPCID individual-address, or the arch marks the tag for a full flush at its next
 * load) and records the new generation, sparing a full flush at its next activation.
 * Interrupts are off so that an activation from a cross-call on this CPU cannot slip
 * between the generation check and the update.
 */
static void tlb_flush_cached_here(const struct tlb_request *r, unsigned me, uint64_t old)
{
	struct vm_space *s = r->s;
	unsigned long flags;

	if (r->all || !cpumask_test(cpumask_read(&s->cached), me))
		return; /* a full flush can as well wait for the activation */
	flags = arch_irq_save();
	if (__atomic_load_n(&s->synced_gen[me], __ATOMIC_RELAXED) == old) {
		tlb_flush_here(r);
		__atomic_store_n(&s->synced_gen[me], old + 1, __ATOMIC_RELAXED);
	}
	arch_irq_restore(flags);
}

/*
 * The flush hook. Called by the engine with or without node locks held, interrupts
 * enabled; returns only after every target CPU (tlb_targets) has flushed (the engine
 * frees what the batch deferred right after). Takes no lock.
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
	cpumask_t targets, remote;
	uint64_t old;

	TLB_STAT_ADD(s, dispatch_count, 1);
	old = __atomic_fetch_add(&s->flush_gen, 1, __ATOMIC_SEQ_CST);
	targets = tlb_targets(s, me);
	if (cpumask_test(targets, me))
		tlb_flush_here(&r);
	else
		tlb_flush_cached_here(&r, me, old);
	remote = cpumask_andnot(targets, cpumask_of(me));
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

	CHECK(s->kind != VM_SPACE_KERNEL && cpumask_is_empty(cpumask_read(&s->active)));
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
