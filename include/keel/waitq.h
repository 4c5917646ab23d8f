/*
 * Wait queues: a thread sleeps until a condition holds, and whoever makes it hold wakes
 * the queue. No lost wake-ups: the sleeper checks the condition and queues itself in one
 * critical section of the queue's lock; a waker changes the condition first and takes
 * the lock second, so either the sleeper sees the new condition or the waker sees the
 * sleeper. Blocking goes through the scheduler's park/unpark pair (sched.h), which the
 * kernel implements with threads (kernel/sched.c) and the host tests with pthreads
 * (tests/host/fake_sched.c), so kernel/mm can wait through it and still compile into
 * the host tests.
 */
#ifndef KEEL_WAITQ_H
#define KEEL_WAITQ_H

#include <keel/compiler.h>
#include <keel/list.h>
#include <keel/spinlock.h>

struct thread;

/* Lock legend: [l] lock (irqsave: wake is allowed from interrupt handlers) */
struct waitq {
	spinlock_t lock;
	struct list_node waiters; /* [l] struct waitq_entry, FIFO */
};

#define WAITQ_INIT(name)                                 \
	{                                                \
		SPINLOCK_INIT, LIST_INIT((name).waiters) \
	}

/* The condition a sleeper waits for; must not sleep (it runs under the queue lock). */
typedef bool (*waitq_cond_fn)(void *arg);

#define WAITQ_FOREVER (~0ull)

void waitq_init(struct waitq *q);
/*
 * Sleeps until cond(arg) is true (checked first: returns at once if it holds). Call
 * with interrupts enabled and no spinlock held. Returns 0, or -ETIMEDOUT once
 * time_ns() passed deadline_ns (WAITQ_FOREVER: never) with cond still false.
 */
int waitq_wait(struct waitq *q, waitq_cond_fn cond, void *arg, uint64_t deadline_ns);
/* Wakes every sleeper of q (they recheck their conditions). Returns how many. Any
 * context, interrupt handlers included. */
unsigned waitq_wake_all(struct waitq *q);
/*
 * The same with q->lock held by the caller: for a condition that must change inside
 * the queue's critical section (e.g. when the sleeper frees the queue's memory as soon
 * as it sees the condition: thread_join).
 */
unsigned waitq_wake_all_locked(struct waitq *q);
/* Wakes the first sleeper, if any. Returns 1 or 0. */
unsigned waitq_wake_one(struct waitq *q);

#endif
