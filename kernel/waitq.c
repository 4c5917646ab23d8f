/*
 * Wait queues (include/keel/waitq.h) over the scheduler's park/unpark pair. Each
 * sleeper has an entry on its own stack; only the queue's lock touches it while it is
 * queued, and the sleeper takes itself off (under that lock) before it returns, so a
 * waker never reaches an entry whose sleeper has gone. The waker unparks under the lock
 * for the same reason: the sleeper cannot return, and its thread cannot end, first.
 *
 * Lock order: a queue's lock, then the scheduler's (sched_unpark); see kernel/mm/pt_walk.c.
 */
#include <keel/check.h>
#include <keel/errno.h>
#include <keel/sched.h>
#include <keel/time.h>
#include <keel/waitq.h>

/* [l] the queue's lock */
struct waitq_entry {
	struct list_node link; /* [l] */
	struct thread *t;      /* [c] */
	bool queued;	       /* [l] */
};

void waitq_init(struct waitq *q)
{
	spin_init(&q->lock);
	list_init(&q->waiters);
}

static bool waitq_expired(uint64_t deadline_ns)
{
	return deadline_ns != WAITQ_FOREVER && time_ns() >= deadline_ns;
}

int waitq_wait(struct waitq *q, waitq_cond_fn cond, void *arg, uint64_t deadline_ns)
{
	struct waitq_entry e = { .t = sched_self(), .queued = false };
	int rc;

	for (;;) {
		unsigned long flags = spin_lock_irqsave(&q->lock);

		if (e.queued) {
			list_remove(&e.link);
			e.queued = false;
		}
		rc = cond(arg) ? 0 : waitq_expired(deadline_ns) ? -ETIMEDOUT : 1;
		if (rc <= 0) {
			spin_unlock_irqrestore(&q->lock, flags);
			return rc;
		}
		list_push_back(&q->waiters, &e.link);
		e.queued = true;
		spin_unlock_irqrestore(&q->lock, flags);
		sched_park(deadline_ns);
	}
}

/* Takes the first sleeper off q and unparks it. Caller holds q->lock. */
static void waitq_wake_first(struct waitq *q)
{
	struct waitq_entry *e = list_entry(q->waiters.next, struct waitq_entry, link);

	list_remove(&e->link);
	e->queued = false;
	sched_unpark(e->t);
}

unsigned waitq_wake_all(struct waitq *q)
{
	unsigned long flags = spin_lock_irqsave(&q->lock);
	unsigned n = waitq_wake_all_locked(q);

	spin_unlock_irqrestore(&q->lock, flags);
	return n;
}

unsigned waitq_wake_all_locked(struct waitq *q)
{
	unsigned n = 0;

	for (; !list_is_empty(&q->waiters); n++)
		waitq_wake_first(q);
	return n;
}

unsigned waitq_wake_one(struct waitq *q)
{
	unsigned long flags = spin_lock_irqsave(&q->lock);
	unsigned n = 0;

	if (!list_is_empty(&q->waiters)) {
		waitq_wake_first(q);
		n = 1;
	}
	spin_unlock_irqrestore(&q->lock, flags);
	return n;
}
