/*
 * The TLB flusher: turns one page-table operation's flush batch (kernel/mm/pt.h) into
 * the fewest TLB invalidations that make it visible everywhere, for one vm_space.
 *
 * Per dispatch (one per operation that removed or changed leaves; more only if the
 * engine could not get memory to defer more references and had to flush early):
 *  1. the space's flush generation is bumped (CPUs that may cache the space but do not
 *     run it now flush everything when they next activate it: vm_space_activate);
 *  2. the running CPU flushes itself if it runs the space; if it only caches it (a
 *     tagged space it ran before) and was synced, it flushes the ranges now instead
 *     (INVPCID individual-address) and stays synced;
 *  3. the other CPUs running the space get ONE smp_call (wait = true): the hook returns
 *     only after every target has flushed, so the engine frees removed frames and nodes
 *     only after all acknowledgements.
 * The kernel table (VM_SPACE_KERNEL) is "run" by every online CPU: its flushes go to
 * all of them, per page (INVLPG also drops global entries of that page under every
 * PCID) or in full (global entries included), never lazily. They are not dispatched
 * while a CPU comes online (tlb_cpu_bringup_begin/end below).
 * Host and kernel spaces flush the recorded ranges page by page up to
 * tlb_flush_pages_max pages, else everything; spaces whose format has no per-address
 * invalidation (pt_format.no_addr_invalidate: guest EPT spaces, INVEPT has no
 * per-address form) always flush everything; the kernel table flushes everything when
 * the batch freed nodes (other PCIDs' paging-structure caches). The engine itself gives up on the
 * list past PT_FLUSH_RANGE_MAX (32) separate ranges.
 *
 * This file knows no x86 instruction: the arch_* hooks below do the work.
 */
#ifndef KEEL_MM_TLB_H
#define KEEL_MM_TLB_H

#include <keel/compiler.h>
#include <keel/types.h>

#include "pt.h"

struct vm_space;

/*
 * Threshold between a per-page and a full flush of a host or kernel space, in 4 KiB
 * pages summed over the batch's ranges: up to it, one invalidation per page; above it,
 * one full flush. Chosen from the crossover measured by bench_tlb_flush_threshold
 * (arch/x86_64/tlb_bench.c; `make bench` or scripts/kbench.sh): cycles of N INVLPGs +
 * touching the N pages again vs one CR3 reload + the same touches, minimum of 15 runs,
 * QEMU 7.2 TCG (-cpu max: no PCID, so the full flush is a plain CR3 reload), 1 CPU:
 *
 *      N   INVLPG+N   full+N   INVLPG+N+64  full+N+64  (+64: 64 other pages touched too)
 *      1        832     9792         1056      22586
 *      8       4540     9536         4960      23456
 *     16       9046    11700         9258      25334
 *     20      10912    11988        11580      26168
 *     24      13344    13794        13776      27590
 *     28      15604    14092        15770      27452
 *     32      17982    15140        18150      28928
 *     64      37138    21596        35354      35088
 *     80      42596    25102        43088      38530
 *    128      67780    34806        68540      48092
 *    512     253676   104554       256866     117464
 *
 * Per-page flushes first cost more at N = 24-28 (five runs), hence 24; with 64 more
 * pages of working set the crossover moves to 64-80. Caveat: TCG's softmmu TLB is not a
 * hardware TLB (an INVLPG costs ~500 cycles of host code there, a refill is a page walk
 * in C, a CR3 write drops global entries too), and Bochs' TSC counts instructions
 * (crossover 8 there, meaningless for TLB costs). Measure on hardware before trusting
 * it; the benchmark may change tlb_flush_pages_max at run time (Linux uses 33).
 */
#ifndef TLB_FLUSH_PAGES_MAX
#define TLB_FLUSH_PAGES_MAX 24
#endif
extern uint64_t tlb_flush_pages_max;

/*
 * Counters, all atomic, kept per space and globally (tlb_stats_global):
 *  dispatch_count      flush hook calls (one per operation that removed or changed leaves)
 *  call_count          cross-CPU calls sent (smp_call invocations, at most one per dispatch)
 *  ipi_count           target CPUs of those calls
 *  range_flush_count   arch_tlb_flush_range calls, on any CPU
 *  full_flush_count    arch_tlb_flush_all calls, on any CPU (lazy ones included)
 *  lazy_flush_count    full flushes done at activation because of the generation
 */
struct tlb_stats {
	uint64_t dispatch_count;
	uint64_t call_count;
	uint64_t ipi_count;
	uint64_t range_flush_count;
	uint64_t full_flush_count;
	uint64_t lazy_flush_count;
};

extern struct tlb_stats tlb_stats_global;

/* Untorn snapshot of a counter block (each counter read atomically). */
void tlb_stats_read(const struct tlb_stats *src, struct tlb_stats *out);

/* The flush hook of every vm_space batch; b->ctx is the struct vm_space. */
extern const struct pt_flush_ops tlb_flush_ops;

/* Starts a batch whose flushes go to space s. */
void tlb_batch_init(struct pt_flush_batch *b, struct vm_space *s);

/*
 * For vm_space_activate: marks the running CPU as running s, then flushes lazily: if
 * this CPU may hold translations of s older than the space's flush generation (it ran s
 * before and a dispatch since may have skipped it), flushes everything of s here.
 * Records the generation as synced. Never waits; any interrupt state.
 */
void tlb_activate(struct vm_space *s);

/*
 * CPU bring-up (arch start-up code): begin before the starting CPU runs its first
 * instruction (before the Startup IPI), end once it is online (smp_mark_online done).
 * In between no kernel-table flush is dispatched: one that comes waits, serving its
 * CPU's cross-calls, so that no dispatch skips a CPU that already walks the kernel
 * table but is not a target yet (the reasoning is in tlb.c, "The bring-up gate").
 * begin waits for the dispatches in flight, serving this CPU's cross-calls; it takes no
 * lock and may be called with interrupts disabled. One bring-up at a time; the starting
 * CPU must not edit the kernel table before it is online.
 */
void tlb_cpu_bringup_begin(void);
void tlb_cpu_bringup_end(void);
/* Statistics for tests: kernel-table dispatches that waited for a bring-up. */
uint64_t tlb_bringup_wait_count(void);

/*
 * For vm_space_fini, before the table is freed: every CPU that may cache s (running it
 * or not) flushes everything of it, with one cross-call, so its tag (PCID/VPID/EPTP)
 * can be reused by another space without stale entries. No CPU may run s. Waits.
 */
void tlb_retire(struct vm_space *s);

/*
 * Arch hooks (arch/x86_64 in the kernel, tests/host/fake_tlb.c in host tests). Each acts
 * on the RUNNING CPU only, for space s (tagged by s->tag, rooted at s->table), may run
 * with interrupts disabled (from the cross-call handler) and must not block or take
 * spinlocks other than in irqsave form. "Drop" may be deferred to the CPU's next load
 * of s's tag (x86 without INVPCID: that load then flushes), never beyond it.
 *  arch_tlb_flush_range: drop translations of [va, va + len) (page-aligned, len > 0) of a
 *    host or kernel space, and paging-structure caches above them (INVLPG per page when
 *    s is loaded here or is the kernel table, INVPCID individual-address for s's PCID
 *    otherwise). Never called for a space whose format has no_addr_invalidate (guest
 *    spaces).
 *  arch_tlb_flush_all: drop every translation of s: host spaces CR3 reload / INVPCID
 *    single-context for s->tag; the kernel table INVPCID all-context or a CR4.PGE
 *    toggle (global entries included); guest spaces single-context INVEPT for s's EPTP
 *    plus single-context INVVPID for s->tag when VPIDs are used. Decide from s->kind.
 *  arch_vm_space_load: make s the CPU's current space of its kind (CR3 with PCID and
 *    no-flush bit for host spaces; EPTP/VPID into the current VMCS for guest spaces).
 *    Never called for the kernel table.
 */
void arch_tlb_flush_range(struct vm_space *s, vaddr_t va, uint64_t len);
void arch_tlb_flush_all(struct vm_space *s);
void arch_vm_space_load(struct vm_space *s);

#endif
