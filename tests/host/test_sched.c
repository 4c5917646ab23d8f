/*
 * The scheduler's ready queue (kernel/runq.c) and the wait queues (kernel/waitq.c) over
 * host threads as Keel threads (fake_sched.c): FIFO order and CPU pins, no lost
 * wake-up in a ping-pong of 100,000 hand-overs, every sleeper woken by wake_all,
 * deadlines, wake_one. ASan and TSan builds; no sleeps, no timing assertions.
 */
#include <pthread.h>
#include <string.h>

#include <keel/errno.h>
#include <keel/sched.h>
#include <keel/time.h>
#include <keel/waitq.h>

#include "fake_sched.h"
#include "pt_test.h"
#include "runq.h"

#define PING_ROUNDS 100000
#define SLEEPERS 8

static void t_runq_fifo_respects_pins(const void *arg)
{
	struct thread a = { .cpu_pin = THREAD_ANY_CPU }, b = { .cpu_pin = 1 },
		      c = { .cpu_pin = THREAD_ANY_CPU };
	struct runq q;

	(void)arg;
	runq_init(&q);
	runq_push(&q, &a);
	runq_push(&q, &b);
	runq_push(&q, &c);
	T_EQ(q.count, 3);
	T_EQ(a.state, THREAD_READY);
	T_ASSERT(runq_has(&q, 0) && runq_has(&q, 1));
	T_ASSERT(runq_pop(&q, 0) == &a);
	T_ASSERT(runq_pop(&q, 0) == &c); /* b is pinned to CPU 1: skipped, kept */
	T_ASSERT(runq_pop(&q, 0) == NULL);
	T_ASSERT(!runq_has(&q, 0) && runq_has(&q, 1));
	T_ASSERT(runq_pop(&q, 1) == &b);
	T_EQ(q.count, 0);
	T_ASSERT(!runq_has(&q, 1));
}

/* Threads push their own entries and pop any allowed one, under one lock: every push
 * comes out exactly once and never on a CPU its pin forbids. */
#define CHURN_THREADS 4
#define CHURN_SLOTS 64

struct runq_mt {
	spinlock_t lock;
	struct runq q;
	struct thread t[CHURN_THREADS][CHURN_SLOTS];
	bool queued[CHURN_THREADS][CHURN_SLOTS]; /* [lock] */
	unsigned pushes, pops, bad_pin;		 /* [lock] */
};

struct churn_arg {
	struct runq_mt *m;
	unsigned me;
};

static void churn_pop_one(struct runq_mt *m, unsigned me)
{
	struct thread *t = runq_pop(&m->q, me);

	if (!t)
		return;
	if (t->cpu_pin != THREAD_ANY_CPU && (unsigned)t->cpu_pin != me)
		m->bad_pin++;
	(&m->queued[0][0])[t - &m->t[0][0]] = false; /* the same index in both arrays */
	m->pops++;
}

static void *runq_churn_thread(void *arg)
{
	struct churn_arg *a = arg;
	struct runq_mt *m = a->m;

	fake_set_cpu(a->me);
	for (unsigned round = 0; round < 20000; round++) {
		unsigned i = round % CHURN_SLOTS;
		struct thread *t = &m->t[a->me][i];

		spin_lock(&m->lock);
		if (!m->queued[a->me][i]) {
			t->cpu_pin = (round % 3 == 0) ? (int)a->me : THREAD_ANY_CPU;
			runq_push(&m->q, t);
			m->queued[a->me][i] = true;
			m->pushes++;
		}
		if (round % 2)
			churn_pop_one(m, a->me);
		spin_unlock(&m->lock);
	}
	return NULL;
}

static void t_runq_shared_under_lock(const void *arg)
{
	static struct runq_mt m;
	struct churn_arg a[CHURN_THREADS];
	pthread_t th[CHURN_THREADS];

	(void)arg;
	memset(&m, 0, sizeof(m));
	spin_init(&m.lock);
	runq_init(&m.q);
	for (unsigned i = 0; i < CHURN_THREADS; i++) {
		a[i] = (struct churn_arg){ &m, i };
		pthread_create(&th[i], NULL, runq_churn_thread, &a[i]);
	}
	for (unsigned i = 0; i < CHURN_THREADS; i++)
		pthread_join(th[i], NULL);
	for (unsigned cpu = 0; cpu < CHURN_THREADS; cpu++)
		while (m.q.count)
			if (!runq_has(&m.q, cpu))
				break;
			else
				churn_pop_one(&m, cpu);
	T_EQ(m.q.count, 0);
	T_ASSERT(list_is_empty(&m.q.ready));
	T_EQ(m.pushes, m.pops);
	T_EQ(m.bad_pin, 0);
	T_ASSERT(m.pushes > CHURN_THREADS * CHURN_SLOTS);
}

/* ---- wait queues */

struct pingpong {
	struct waitq q;
	unsigned turn; /* [a] */
	unsigned rounds[2];
};

struct pp_arg {
	struct pingpong *p;
	unsigned me;
};

static bool pp_my_turn(void *arg)
{
	const struct pp_arg *a = arg;

	return __atomic_load_n(&a->p->turn, __ATOMIC_ACQUIRE) == a->me;
}

static void *pp_player(void *arg)
{
	struct pp_arg *a = arg;

	fake_set_cpu(1 + a->me); /* each host thread is a CPU of its own */
	for (unsigned i = 0; i < PING_ROUNDS; i++) {
		CHECK(waitq_wait(&a->p->q, pp_my_turn, a, WAITQ_FOREVER) == 0);
		a->p->rounds[a->me]++;
		__atomic_store_n(&a->p->turn, 1 - a->me, __ATOMIC_RELEASE);
		waitq_wake_all(&a->p->q);
	}
	return NULL;
}

/* A lost wake-up would leave both players asleep: the test would hang (make's timeout). */
static void t_waitq_ping_pong_loses_no_wakeup(const void *arg)
{
	static struct pingpong p;
	struct pp_arg a[2] = { { &p, 0 }, { &p, 1 } };
	pthread_t th[2];

	(void)arg;
	memset(&p, 0, sizeof(p));
	waitq_init(&p.q);
	for (unsigned i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, pp_player, &a[i]);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	T_EQ(p.rounds[0], PING_ROUNDS);
	T_EQ(p.rounds[1], PING_ROUNDS);
	T_ASSERT(list_is_empty(&p.q.waiters));
}

struct level {
	struct waitq q;
	unsigned value; /* [a] */
};

struct level_arg {
	struct level *l;
	unsigned want;
	unsigned cpu;
	int rc;
};

static bool level_reached(void *arg)
{
	const struct level_arg *a = arg;

	return __atomic_load_n(&a->l->value, __ATOMIC_ACQUIRE) >= a->want;
}

static void *level_sleeper(void *arg)
{
	struct level_arg *a = arg;

	fake_set_cpu(a->cpu);
	a->rc = waitq_wait(&a->l->q, level_reached, a, WAITQ_FOREVER);
	return NULL;
}

/* Sleepers wait for different levels; a producer raises it step by step. */
static void t_waitq_wake_all_reaches_every_sleeper(const void *arg)
{
	static struct level l;
	struct level_arg a[SLEEPERS];
	pthread_t th[SLEEPERS];

	(void)arg;
	memset(&l, 0, sizeof(l));
	waitq_init(&l.q);
	for (unsigned i = 0; i < SLEEPERS; i++) {
		a[i] = (struct level_arg){ .l = &l, .want = 1 + i % 4, .cpu = 1 + i, .rc = 1 };
		pthread_create(&th[i], NULL, level_sleeper, &a[i]);
	}
	for (unsigned v = 1; v <= 4; v++) {
		__atomic_store_n(&l.value, v, __ATOMIC_RELEASE);
		waitq_wake_all(&l.q);
	}
	for (unsigned i = 0; i < SLEEPERS; i++) {
		pthread_join(th[i], NULL);
		T_EQ(a[i].rc, 0);
	}
	T_ASSERT(list_is_empty(&l.q.waiters));
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void t_waitq_deadline_times_out(const void *arg)
{
	struct waitq q;
	uint64_t t0 = time_ns();

	(void)arg;
	waitq_init(&q);
	T_EQ(waitq_wait(&q, never, NULL, t0 + 5 * NSEC_PER_MSEC), -ETIMEDOUT);
	T_ASSERT(time_ns() >= t0 + 5 * NSEC_PER_MSEC);
	T_ASSERT(list_is_empty(&q.waiters));		  /* the sleeper took itself off */
	T_EQ(waitq_wait(&q, never, NULL, 0), -ETIMEDOUT); /* a deadline already past */
}

static void t_waitq_true_condition_does_not_sleep(const void *arg)
{
	static struct level l;
	struct level_arg a = { .l = &l, .want = 0 };
	uint64_t parks = fake_park_count();

	(void)arg;
	waitq_init(&l.q);
	T_EQ(waitq_wait(&l.q, level_reached, &a, WAITQ_FOREVER), 0);
	T_EQ(fake_park_count(), parks);
	T_EQ(waitq_wake_one(&l.q), 0);
	T_EQ(waitq_wake_all(&l.q), 0);
}

int main(void)
{
	tap_run("runq_fifo_respects_pins", t_runq_fifo_respects_pins, NULL);
	tap_run("runq_shared_under_lock", t_runq_shared_under_lock, NULL);
	tap_run("waitq_ping_pong_loses_no_wakeup", t_waitq_ping_pong_loses_no_wakeup, NULL);
	tap_run("waitq_wake_all_reaches_every_sleeper", t_waitq_wake_all_reaches_every_sleeper,
		NULL);
	tap_run("waitq_deadline_times_out", t_waitq_deadline_times_out, NULL);
	tap_run("waitq_true_condition_does_not_sleep", t_waitq_true_condition_does_not_sleep, NULL);
	return tap_finish();
}
