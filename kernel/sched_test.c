/*
 * Kernel tests of threads, the scheduler and wait queues (kernel/sched.c, waitq.c):
 * threads run and are joined, a wait queue loses no wake-up, the tick preempts threads
 * that never yield, deadlines end a wait, threads spread over CPUs, and an unmap that
 * meets a pin sleeps until the unpin. No sleeps as synchronisation: every wait here is
 * for a state the other side reaches for sure.
 */
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/ktest.h>
#include <keel/sched.h>
#include <keel/smp.h>
#include <keel/time.h>
#include <keel/waitq.h>
#include <mm/vm_space.h>

#define PING_ROUNDS 1000

struct counter {
	unsigned n;
};

static void count_once(void *arg)
{
	__atomic_fetch_add(&((struct counter *)arg)->n, 1, __ATOMIC_RELAXED);
}

KTEST(sched_threads_run_and_join)
{
	struct counter c = { 0 };
	struct thread *th[8];

	for (unsigned i = 0; i < 8; i++) {
		th[i] = thread_create("count", count_once, &c, THREAD_ANY_CPU);
		KT_ASSERT(th[i]);
	}
	for (unsigned i = 0; i < 8; i++)
		thread_start(th[i]);
	for (unsigned i = 0; i < 8; i++)
		thread_join(th[i]);
	KT_ASSERT_EQ(c.n, 8);
}

/* A ring of threads passes a token around through one wait queue: each sleeps until
 * the token names it. A lost wake-up stops the ring (the watchdog fails the run). */
#define RING 4

struct ring {
	struct waitq q;
	unsigned token; /* [a] index of the thread that may go on */
	unsigned laps[RING];
};

struct ring_seat {
	struct ring *r;
	unsigned seat;
};

static bool ring_token_here(void *arg)
{
	const struct ring_seat *s = arg;

	return __atomic_load_n(&s->r->token, __ATOMIC_ACQUIRE) == s->seat;
}

static void ring_member(void *arg)
{
	struct ring_seat *s = arg;

	while (s->r->laps[s->seat] < PING_ROUNDS) {
		if (waitq_wait(&s->r->q, ring_token_here, s, WAITQ_FOREVER))
			return;
		s->r->laps[s->seat]++;
		__atomic_store_n(&s->r->token, (s->seat + 1) % RING, __ATOMIC_RELEASE);
		waitq_wake_all(&s->r->q);
	}
}

KTEST(sched_waitq_token_ring_loses_no_wakeup)
{
	struct ring r = { .token = 0 };
	struct ring_seat seat[RING];
	struct thread *th[RING];
	uint64_t switches = sched_switch_count();

	waitq_init(&r.q);
	for (unsigned i = 0; i < RING; i++) {
		seat[i] = (struct ring_seat){ &r, i };
		th[i] = thread_create("ring", ring_member, &seat[i], THREAD_ANY_CPU);
		KT_ASSERT(th[i]);
	}
	for (unsigned i = 0; i < RING; i++)
		thread_start(th[i]);
	for (unsigned i = 0; i < RING; i++)
		thread_join(th[i]);
	for (unsigned i = 0; i < RING; i++)
		KT_ASSERT_EQ(r.laps[i], PING_ROUNDS);
	KT_ASSERT(sched_switch_count() > switches);
}

/* Two threads on CPU 0 that never yield: each waits for the other's flag, so both
 * finish only if the tick switches between them. */
struct spinners {
	unsigned flag[2];
};

struct spin_arg {
	struct spinners *s;
	unsigned me;
};

static void spin_until_other(void *arg)
{
	struct spin_arg *a = arg;

	__atomic_store_n(&a->s->flag[a->me], 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&a->s->flag[1 - a->me], __ATOMIC_ACQUIRE))
		arch_cpu_relax();
}

KTEST(sched_tick_preempts_threads_that_never_yield)
{
	struct spinners s = { { 0, 0 } };
	struct spin_arg a[2] = { { &s, 0 }, { &s, 1 } };
	struct thread *th[2];
	uint64_t preempted = sched_preempt_count();

	for (unsigned i = 0; i < 2; i++) {
		th[i] = thread_create("spinner", spin_until_other, &a[i], 0);
		KT_ASSERT(th[i]);
	}
	thread_start(th[0]);
	thread_start(th[1]);
	thread_join(th[0]);
	thread_join(th[1]);
	KT_ASSERT(sched_preempt_count() > preempted);
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

KTEST(sched_waitq_deadline_ends_the_wait)
{
	struct waitq q;
	uint64_t t0 = time_ns();

	waitq_init(&q);
	KT_ASSERT_EQ(waitq_wait(&q, never, NULL, t0 + 20 * NSEC_PER_MSEC), -ETIMEDOUT);
	KT_ASSERT(time_ns() >= t0 + 20 * NSEC_PER_MSEC);
}

/* Threads that yield until they have run on two CPUs: they end only if idle CPUs
 * take threads from the shared queue (else the watchdog fails the run). */
struct gather {
	uint64_t cpus; /* [a] mask of CPUs seen */
};

static bool two_cpus_seen(const struct gather *g)
{
	uint64_t m = __atomic_load_n(&g->cpus, __ATOMIC_ACQUIRE);

	return m & (m - 1);
}

static void gather_cpus(void *arg)
{
	struct gather *g = arg;

	while (!two_cpus_seen(g)) {
		__atomic_fetch_or(&g->cpus, 1ull << this_cpu_id(), __ATOMIC_RELEASE);
		thread_yield();
	}
}

KTEST(sched_threads_spread_over_cpus)
{
	unsigned n = smp_cpu_online_count();
	struct gather g = { 0 };
	struct thread *th[MAX_CPUS];

	if (n < 2)
		KT_SKIP("needs 2 CPUs");
	for (unsigned i = 0; i < n; i++) {
		th[i] = thread_create("gather", gather_cpus, &g, THREAD_ANY_CPU);
		KT_ASSERT(th[i]);
	}
	for (unsigned i = 0; i < n; i++)
		thread_start(th[i]);
	for (unsigned i = 0; i < n; i++)
		thread_join(th[i]);
	KT_ASSERT(two_cpus_seen(&g));
}

/* An unmap that meets a pin blocks its thread until the unpin, then completes. */
struct unmapper {
	struct vm_space *s;
	int rc;
	unsigned done; /* [a] */
};

static void unmap_page(void *arg)
{
	struct unmapper *u = arg;

	u->rc = vm_space_unmap(u->s, VA(0x400000), PAGE_SIZE, 0);
	__atomic_store_n(&u->done, 1, __ATOMIC_RELEASE);
}

KTEST(sched_unmap_sleeps_until_unpin)
{
	struct vm_space s;
	struct vm_pin pin;
	struct unmapper u = { .s = &s };
	struct thread *th;
	int rc;

	KT_ASSERT_EQ(vm_space_init(&s, VM_SPACE_HOST_USER, 0), 0);
	KT_ASSERT_EQ(vm_space_add_demand_region(&s, VA(0x400000), PAGE_SIZE,
						PT_PROP(PT_PROP_R | PT_PROP_W | PT_PROP_USER)),
		     0);
	KT_ASSERT_EQ(vm_space_pin(&s, VA(0x400010), 8, VM_ACCESS_WRITE, &pin), 0);
	th = thread_create("unmapper", unmap_page, &u, THREAD_ANY_CPU);
	KT_ASSERT(th);
	thread_start(th);
	/* It parks on the space's queue: a state, not a time. */
	while (__atomic_load_n(&th->state, __ATOMIC_ACQUIRE) != THREAD_BLOCKED)
		thread_yield();
	rc = __atomic_load_n(&u.done, __ATOMIC_ACQUIRE);
	vm_space_unpin(&pin);
	thread_join(th);
	vm_space_fini(&s);
	KT_ASSERT_EQ(rc, 0);
	KT_ASSERT_EQ(u.rc, 0);
	KT_ASSERT_EQ(u.done, 1);
}
