/*
 * Epoch grace periods (see epoch.h). Owns the global epoch counter and the per-CPU
 * reader slots; knows nothing about page tables.
 *
 * A slot holds 0 when its CPU is outside any section, else (epoch << 1) | 1 with the
 * global epoch read when the outermost section began. A synchronizer advances the
 * global epoch and then waits until each slot is idle or shows the new epoch. The
 * sequentially consistent fences pair up: a reader's slot store is ordered before its
 * loads of table entries, the writer's unpublishing stores before its slot loads, so
 * either the writer sees the reader's slot or the reader sees the unpublished entry.
 */
#include <keel/arch.h>
#include <keel/check.h>

#include "epoch.h"

/*
 * Full barrier between a store and later loads (the store-buffering pattern above).
 * ThreadSanitizer does not model fences, so its builds use a sequentially consistent
 * read-modify-write on one shared word instead: on x86 a locked instruction is a full
 * barrier too (SDM Vol 3A 9.2.2, "Memory Ordering in P6 and More Recent Processor
 * Families"), and in the C model RMWs on one word are totally ordered.
 */
#ifdef __SANITIZE_THREAD__
static uint64_t epoch_fence_word;
#define epoch_full_barrier() ((void)__atomic_fetch_add(&epoch_fence_word, 0, __ATOMIC_SEQ_CST))
#else
#define epoch_full_barrier() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

struct epoch_slot {
	uint64_t state; /* [a] 0 idle, else (epoch << 1) | 1 */
	uint32_t nest;	/* [p] owning CPU only */
} __aligned(64);

static uint64_t epoch_global = 1; /* [a] */
static uint64_t epoch_graces;	  /* [a] */
static struct epoch_slot epoch_slots[MAX_CPUS];

/* A section stays on its CPU: preemption is disabled from lock to unlock. */
unsigned epoch_read_lock(void)
{
	unsigned cpu;
	struct epoch_slot *s;

	arch_preempt_disable();
	cpu = arch_cpu_id();
	CHECK(cpu < MAX_CPUS);
	s = &epoch_slots[cpu];
	if (s->nest++ == 0) {
		uint64_t e = __atomic_load_n(&epoch_global, __ATOMIC_ACQUIRE);
		__atomic_store_n(&s->state, (e << 1) | 1, __ATOMIC_SEQ_CST);
		epoch_full_barrier();
	}
	return cpu;
}

void epoch_read_unlock(unsigned slot)
{
	struct epoch_slot *s = &epoch_slots[slot];

	CHECK(slot == arch_cpu_id() && s->nest > 0);
	if (--s->nest == 0)
		__atomic_store_n(&s->state, 0, __ATOMIC_RELEASE);
	arch_preempt_enable();
}

void epoch_synchronize(void)
{
	uint64_t e;

	epoch_full_barrier();
	e = __atomic_add_fetch(&epoch_global, 1, __ATOMIC_SEQ_CST);
	CHECK(epoch_slots[arch_cpu_id()].nest == 0);
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++) {
		for (;;) {
			uint64_t st = __atomic_load_n(&epoch_slots[cpu].state, __ATOMIC_ACQUIRE);
			if (st == 0 || (st >> 1) >= e)
				break;
			arch_cpu_relax();
		}
	}
	__atomic_fetch_add(&epoch_graces, 1, __ATOMIC_RELAXED);
}

uint64_t epoch_grace_count(void)
{
	return __atomic_load_n(&epoch_graces, __ATOMIC_RELAXED);
}
