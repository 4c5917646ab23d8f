/*
 * The scheduler's ready queue (kernel/sched.c): a FIFO of threads, each either free to
 * run anywhere or pinned to one CPU. Pure list code: the caller holds the scheduler's
 * lock; compiled unchanged into the host tests (tests/host/test_sched.c).
 */
#ifndef KEEL_KERNEL_RUNQ_H
#define KEEL_KERNEL_RUNQ_H

#include <keel/sched.h>

/* Lock legend: [q] the owner's lock */
struct runq {
	struct list_node ready; /* [q] struct thread.link, FIFO */
	unsigned count;		/* [q] also read without the lock as a hint */
};

void runq_init(struct runq *q);
/* Appends t (state becomes THREAD_READY). */
void runq_push(struct runq *q, struct thread *t);
/* Removes and returns the first thread that may run on cpu, or NULL. */
struct thread *runq_pop(struct runq *q, unsigned cpu);
/* True if some queued thread may run on cpu. */
bool runq_has(const struct runq *q, unsigned cpu);

#endif
