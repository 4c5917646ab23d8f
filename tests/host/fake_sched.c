/*
 * The scheduler's park/unpark pair for the host tests (include/keel/sched.h): each host
 * thread is a Keel thread with a permit under a mutex and a condition variable, so the
 * real wait queues (kernel/waitq.c) and the pin wait built on them run under TSan.
 * Also time_ns (CLOCK_MONOTONIC).
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <keel/check.h>
#include <keel/sched.h>
#include <keel/time.h>

#include "fake_sched.h"

struct fake_thread {
	struct thread t;
	pthread_mutex_t m;
	pthread_cond_t c;
	bool permit; /* [m] */
};

static __thread struct fake_thread *fake_self;
static uint64_t fake_parks;

uint64_t time_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Freed when the host thread ends (a pthread key's destructor). */
static pthread_key_t fake_key;
static pthread_once_t fake_key_once = PTHREAD_ONCE_INIT;

static void fake_thread_free(void *p)
{
	struct fake_thread *ft = p;

	pthread_mutex_destroy(&ft->m);
	pthread_cond_destroy(&ft->c);
	free(ft);
}

static void fake_key_make(void)
{
	CHECK(pthread_key_create(&fake_key, fake_thread_free) == 0);
}

struct thread *sched_self(void)
{
	if (!fake_self) {
		fake_self = calloc(1, sizeof(*fake_self));
		CHECK(fake_self);
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines are time_ns() */
		pthread_mutex_init(&fake_self->m, NULL);
		pthread_cond_init(&fake_self->c, &ca);
		pthread_condattr_destroy(&ca);
		pthread_once(&fake_key_once, fake_key_make);
		pthread_setspecific(fake_key, fake_self);
	}
	return &fake_self->t;
}

void sched_park(uint64_t deadline_ns)
{
	struct fake_thread *ft = container_of(sched_self(), struct fake_thread, t);
	struct timespec ts = { .tv_sec = (time_t)(deadline_ns / NSEC_PER_SEC),
			       .tv_nsec = (long)(deadline_ns % NSEC_PER_SEC) };

	__atomic_fetch_add(&fake_parks, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&ft->m);
	while (!ft->permit) {
		if (deadline_ns == WAITQ_FOREVER)
			pthread_cond_wait(&ft->c, &ft->m);
		else if (pthread_cond_timedwait(&ft->c, &ft->m, &ts))
			break; /* timed out */
	}
	ft->permit = false;
	pthread_mutex_unlock(&ft->m);
}

void sched_unpark(struct thread *t)
{
	struct fake_thread *ft = container_of(t, struct fake_thread, t);

	pthread_mutex_lock(&ft->m);
	ft->permit = true;
	pthread_cond_signal(&ft->c);
	pthread_mutex_unlock(&ft->m);
}

uint64_t fake_park_count(void)
{
	return __atomic_load_n(&fake_parks, __ATOMIC_RELAXED);
}
