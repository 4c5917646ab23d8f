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
 * s->active; the bring-up gate below keeps a CPU that is coming online from missing one.
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
 * True if the batch is better flushed whole: the engine gave up on the list, the
 * space's format has no per-address invalidation (pt_format.no_addr_invalidate: EPT),
 * the ranges cover more than tlb_flush_pages_max pages, or the kernel table lost nodes:
 * per-address invalidation drops the paging-structure caches of the current tag only
 * (SDM Vol 3A 4.10.4.1, INVLPG), and kernel addresses are walked under every tag.
 *
 * The format answers, not the space's kind nor an arch hook: which invalidations exist
 * is a fact about the translation structure the format describes (INVEPT has no
 * per-address type whatever the EPT table is used for), fixed where its bits are
 * defined. So every use of a format gets it right without a new kind test (a monitor's
 * view of guest RAM would be an EPT-format space of another kind), and an arch hook
 * would only answer from the kind again. The kernel-table test below is about the
 * space, not its format: its translations live under every tag.
 */
static bool tlb_want_all(const struct vm_space *s, const struct pt_flush_batch *b)
{
	uint64_t pages = 0;
	uint64_t max = __atomic_load_n(&tlb_flush_pages_max, __ATOMIC_RELAXED);

	if (b->flush_all || s->table.fmt->no_addr_invalidate)
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
 * The bring-up gate: kernel-table flushes vs CPUs coming online.
 *
 * A kernel-table dispatch flushes the CPUs online when it reads the online mask. A CPU
 * that is starting up walks the kernel table from its first long-mode instruction on
 * (the AP trampoline's root shares the kernel's upper-half entries, then it loads the
 * kernel table itself) but is online, a target, only at the end of its start-up. A
 * dispatch that read the mask in between would skip it: the new CPU could keep a
 * translation the edit removed, or a paging-structure-cache entry pointing into a node
 * that the engine frees after the flush (the epoch grace period does not wait for a
 * CPU outside any cursor) and go on walking the freed node (SDM Vol 3A 4.10.3
 * "Paging-Structure Caches": they keep physical addresses of paging structures).
 *
 * So kernel-table dispatches and bring-ups exclude each other. The start-up code closes
 * the gate (tlb_cpu_bringup_begin), which waits until no dispatch is in flight, before
 * the new CPU runs its first instruction, and opens it (tlb_cpu_bringup_end) once that
 * CPU is online; a dispatch enters the gate before it reads the mask and leaves after
 * the last acknowledgement. Then each dispatch either
 *  - finished before the new CPU ran: the edits it flushes were already in the table,
 *    and the nodes it lets the engine free were already unlinked from it (root entries
 *    256-511, where every walk starts, never change: kmap.h), so the new CPU can cache
 *    neither the old translations nor those nodes; or
 *  - read the mask after the new CPU marked itself online: it is a target like any
 *    other (in full, paging-structure caches included, when nodes were freed).
 * An edit whose entries change while a CPU comes online is just flushed later: until
 * its flush returns every CPU may use the old translations, as with any edit, and the
 * engine frees nothing before that.
 *
 * Waiting. A dispatch at a closed gate, and bring-up waiting for dispatches in flight,
 * serve their own CPU's cross-calls meanwhile (smp_call_poll), as every wait for
 * another CPU must (kernel/README.md): a dispatch in flight may be waiting for the
 * closing CPU's acknowledgement. The waiting dispatch may hold node locks (an early
 * flush); bring-up takes none, and the starting CPU must not edit the kernel table
 * before it is online (it would wait for its own start-up: CHECKed).
 *
 * One word: TLB_GATE_CLOSED plus the count of dispatches inside. Both sides change it
 * with read-modify-writes, which are totally ordered: either the closer sees a
 * dispatch's increment and waits for it, or the dispatch sees the gate closed.
 */
#define TLB_GATE_CLOSED (1ull << 63)
static uint64_t tlb_gate; /* [a] TLB_GATE_CLOSED | kernel-table dispatches inside */
static unsigned tlb_gate_closer = MAX_CPUS; /* [a] the CPU that closed it, or MAX_CPUS */
static uint64_t tlb_gate_waits; /* [a] statistics: dispatches that found the gate closed */

/* A dispatch that finds the gate closed on the CPU that closed it, or on the CPU coming
 * online, would wait for itself. */
static void tlb_gate_check_waiter(void)
{
	unsigned me = arch_cpu_id();

	CHECK(me != __atomic_load_n(&tlb_gate_closer, __ATOMIC_RELAXED));
	CHECK(cpumask_test(smp_online_mask(), me));
}

static void tlb_gate_enter(void)
{
	uint64_t v = __atomic_load_n(&tlb_gate, __ATOMIC_RELAXED);
	bool waited = false;

	for (;;) {
		if (!(v & TLB_GATE_CLOSED)) {
			if (__atomic_compare_exchange_n(&tlb_gate, &v, v + 1, false,
							__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				return;
			continue; /* v was reloaded */
		}
		if (!waited) {
			tlb_gate_check_waiter();
			__atomic_fetch_add(&tlb_gate_waits, 1, __ATOMIC_RELAXED);
			waited = true;
		}
		smp_call_poll();
		arch_cpu_relax();
		v = __atomic_load_n(&tlb_gate, __ATOMIC_RELAXED);
	}
}

static void tlb_gate_leave(void)
{
	__atomic_fetch_sub(&tlb_gate, 1, __ATOMIC_RELEASE);
}

void tlb_cpu_bringup_begin(void)
{
	uint64_t old = __atomic_fetch_or(&tlb_gate, TLB_GATE_CLOSED, __ATOMIC_SEQ_CST);

	CHECK(!(old & TLB_GATE_CLOSED)); /* one bring-up at a time */
	__atomic_store_n(&tlb_gate_closer, arch_cpu_id(), __ATOMIC_RELAXED);
	while (__atomic_load_n(&tlb_gate, __ATOMIC_ACQUIRE) != TLB_GATE_CLOSED) {
		smp_call_poll();
		arch_cpu_relax();
	}
}

void tlb_cpu_bringup_end(void)
{
	__atomic_store_n(&tlb_gate_closer, MAX_CPUS, __ATOMIC_RELAXED);
	uint64_t old = __atomic_fetch_and(&tlb_gate, ~TLB_GATE_CLOSED, __ATOMIC_SEQ_CST);

	CHECK(old & TLB_GATE_CLOSED);
}

uint64_t tlb_bringup_wait_count(void)
{
	return __atomic_load_n(&tlb_gate_waits, __ATOMIC_RELAXED);
}

/*
 * CPUs that must flush before the dispatch returns: those running s, or for the kernel
 * table every online CPU and this one (which may not be marked online yet at boot). For
 * the kernel table the caller is inside the bring-up gate: no CPU is coming online.
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

/* Flushes r on this CPU (or its cached-only bookkeeping) and on the other targets. */
static void tlb_dispatch(struct tlb_request *r, unsigned me)
{
	struct vm_space *s = r->s;
	cpumask_t targets, remote;
	uint64_t old;

	TLB_STAT_ADD(s, dispatch_count, 1);
	old = __atomic_fetch_add(&s->flush_gen, 1, __ATOMIC_SEQ_CST);
	targets = tlb_targets(s, me);
	if (cpumask_test(targets, me))
		tlb_flush_here(r);
	else
		tlb_flush_cached_here(r, me, old);
	remote = cpumask_andnot(targets, cpumask_of(me));
	if (cpumask_is_empty(remote))
		return;
#ifdef KEEL_DEBUG
	/* waiting for acknowledgements with interrupts off can deadlock (tlb.h) */
	CHECK(arch_irqs_enabled());
#endif
	unsigned n = smp_call(remote, tlb_flush_call, r, true);
	TLB_STAT_ADD(s, call_count, 1);
	TLB_STAT_ADD(s, ipi_count, n);
}

/*
 * The flush hook. Called by the engine with or without node locks held, interrupts
 * enabled; returns only after every target CPU (tlb_targets) has flushed (the engine
 * frees what the batch deferred right after). Takes no lock; a kernel-table flush
 * waits while a CPU comes online (the bring-up gate).
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
	bool kernel = s->kind == VM_SPACE_KERNEL;

	arch_preempt_disable(); /* `me` below stays the running CPU */
	if (kernel)
		tlb_gate_enter();
	tlb_dispatch(&r, arch_cpu_id());
	if (kernel)
		tlb_gate_leave();
	arch_preempt_enable();
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
