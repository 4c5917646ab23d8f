/* The ready queue (runq.h): FIFO with per-thread CPU pins. */
#include "runq.h"

void runq_init(struct runq *q)
{
	list_init(&q->ready);
	q->count = 0;
}

void runq_push(struct runq *q, struct thread *t)
{
	t->state = THREAD_READY;
	list_push_back(&q->ready, &t->link);
	__atomic_store_n(&q->count, q->count + 1, __ATOMIC_RELAXED);
}

static bool runq_allows(const struct thread *t, unsigned cpu)
{
	return t->cpu_pin == THREAD_ANY_CPU || (unsigned)t->cpu_pin == cpu;
}

struct thread *runq_pop(struct runq *q, unsigned cpu)
{
	struct list_node *it;

	list_for_each (it, &q->ready) {
		struct thread *t = list_entry(it, struct thread, link);

		if (runq_allows(t, cpu)) {
			list_remove(&t->link);
			__atomic_store_n(&q->count, q->count - 1, __ATOMIC_RELAXED);
			return t;
		}
	}
	return NULL;
}

bool runq_has(const struct runq *q, unsigned cpu)
{
	const struct list_node *it;

	list_for_each (it, &q->ready) {
		if (runq_allows(list_entry(it, struct thread, link), cpu))
			return true;
	}
	return false;
}
