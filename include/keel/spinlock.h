/*
 * Ticket spinlocks: FIFO-fair, one cache line of state. Implemented with compiler
 * atomics only, so the same code runs in the kernel and (under ThreadSanitizer) in host
 * tests. spin_lock_irqsave disables interrupts first; a lock ever taken from an
 * interrupt handler must always be taken with the irqsave form.
 *
 * Interrupt-safety rules (see kernel/README.md):
 *  - never wait for another CPU (IPI acknowledgement, a pin to drop) while holding a
 *    spinlock with interrupts disabled;
 *  - never sleep or allocate with GFP-like blocking while holding a spinlock.
 *
 * A holder is never preempted (arch_preempt_disable from the lock to the unlock): a
 * thread switched out with a lock held would make the next thread on its CPU spin.
 *
 * In debug builds (KEEL_DEBUG) the lock records its owner CPU, spin_lock_held() can be
 * asserted, and recursive locking panics instead of deadlocking.
 */
#ifndef KEEL_SPINLOCK_H
#define KEEL_SPINLOCK_H

#include <keel/arch.h>
#include <keel/check.h>
#include <keel/compiler.h>

typedef struct spinlock {
	uint16_t next;	/* ticket handed to the next arrival */
	uint16_t owner; /* ticket now being served */
#ifdef KEEL_DEBUG
	int16_t holder_cpu; /* -1 when free */
#endif
} spinlock_t;

#ifdef KEEL_DEBUG
#define SPINLOCK_INIT    \
	{                \
		0, 0, -1 \
	}
#else
#define SPINLOCK_INIT \
	{             \
		0, 0  \
	}
#endif

static inline void spin_init(spinlock_t *l)
{
	*l = (spinlock_t)SPINLOCK_INIT;
}

static inline void spin_lock(spinlock_t *l)
{
	arch_preempt_disable();
#ifdef KEEL_DEBUG
	CHECK(__atomic_load_n(&l->holder_cpu, __ATOMIC_RELAXED) != (int16_t)arch_cpu_id());
#endif
	uint16_t me = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
	while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != me)
		arch_cpu_relax();
#ifdef KEEL_DEBUG
	__atomic_store_n(&l->holder_cpu, (int16_t)arch_cpu_id(), __ATOMIC_RELAXED);
#endif
}

/* Takes the lock only if nobody holds or waits for it. Returns true if taken. */
static inline bool spin_trylock(spinlock_t *l)
{
	uint16_t owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
	uint16_t expect = owner;
	arch_preempt_disable();
	if (!__atomic_compare_exchange_n(&l->next, &expect, (uint16_t)(owner + 1), false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		arch_preempt_enable();
		return false;
	}
#ifdef KEEL_DEBUG
	__atomic_store_n(&l->holder_cpu, (int16_t)arch_cpu_id(), __ATOMIC_RELAXED);
#endif
	return true;
}

static inline void spin_unlock(spinlock_t *l)
{
#ifdef KEEL_DEBUG
	CHECK(__atomic_load_n(&l->holder_cpu, __ATOMIC_RELAXED) == (int16_t)arch_cpu_id());
	__atomic_store_n(&l->holder_cpu, -1, __ATOMIC_RELAXED);
#endif
	uint16_t cur = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
	__atomic_store_n(&l->owner, (uint16_t)(cur + 1), __ATOMIC_RELEASE);
	arch_preempt_enable();
}

static inline bool spin_is_locked(spinlock_t *l)
{
	return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) !=
	       __atomic_load_n(&l->next, __ATOMIC_RELAXED);
}

#ifdef KEEL_DEBUG
/* True if the running CPU holds l. Only meaningful in debug builds. */
static inline bool spin_lock_held(spinlock_t *l)
{
	return __atomic_load_n(&l->holder_cpu, __ATOMIC_RELAXED) == (int16_t)arch_cpu_id();
}
#define ASSERT_LOCK_HELD(l) CHECK(spin_lock_held(l))
#else
#define ASSERT_LOCK_HELD(l) ((void)(l))
#endif

static inline unsigned long spin_lock_irqsave(spinlock_t *l)
{
	unsigned long flags = arch_irq_save();
	spin_lock(l);
	return flags;
}

static inline void spin_unlock_irqrestore(spinlock_t *l, unsigned long flags)
{
	spin_unlock(l);
	arch_irq_restore(flags);
}

#endif
