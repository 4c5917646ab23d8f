/*
 * Cross-CPU call tests. Generic: they use only smp.h, spinlocks and the clock, so they
 * hold on any arch. With one CPU they still run (every call is local).
 */
#include <keel/errno.h>
#include <keel/ktest.h>
#include <keel/printk.h>
#include <keel/smp.h>
#include <keel/spinlock.h>
#include <keel/time.h>

#define WAIT_NS (5 * NSEC_PER_SEC)

static uint64_t hits[MAX_CPUS];

static void count_hit(void *arg)
{
	uint64_t *h = arg;
	__atomic_fetch_add(&h[this_cpu_id()], 1, __ATOMIC_RELAXED);
}

static void hits_reset(void)
{
	for (unsigned i = 0; i < MAX_CPUS; i++)
		__atomic_store_n(&hits[i], 0, __ATOMIC_RELAXED);
}

static uint64_t hits_sum(void)
{
	uint64_t s = 0;
	for (unsigned i = 0; i < MAX_CPUS; i++)
		s += __atomic_load_n(&hits[i], __ATOMIC_ACQUIRE);
	return s;
}

/* Waits (bounded) until the hit total reaches want; returns the total. */
static uint64_t hits_wait_for(uint64_t want)
{
	uint64_t t0 = time_ns();
	while (hits_sum() < want && time_ns() - t0 < WAIT_NS)
		arch_cpu_relax();
	return hits_sum();
}

/* A call to all online CPUs runs exactly once on each of them, and only there. */
KTEST(smp_call_runs_once_on_each_cpu)
{
	hits_reset();
	cpumask_t online = smp_online_mask();
	unsigned n = smp_call(online, count_hit, hits, true);
	KT_ASSERT_EQ(n, cpumask_weight(online));
	for (unsigned i = 0; i < MAX_CPUS; i++)
		KT_ASSERT_EQ(hits[i], cpumask_test(online, i) ? 1 : 0);
}

/* A call to one other CPU runs there, not here; offline CPUs in the mask are skipped. */
KTEST(smp_call_single_target_and_offline_skipped)
{
	unsigned target = smp_cpu_online_count() > 1 ? 1 : 0;
	hits_reset();
	cpumask_t set = cpumask_of(target);
	cpumask_set(&set, MAX_CPUS - 1); /* never online in the test setups (< 64 CPUs) */
	KT_ASSERT_EQ(smp_call(set, count_hit, hits, true), 1);
	KT_ASSERT_EQ(hits[target], 1);
	KT_ASSERT_EQ(hits_sum(), 1);
}

/* Without wait, the calls still all run (counted in memory, later). */
KTEST(smp_call_nowait_completes)
{
	hits_reset();
	unsigned rounds = 50, n = 0;
	for (unsigned r = 0; r < rounds; r++)
		n += smp_call(smp_online_mask(), count_hit, hits, false);
	KT_ASSERT_EQ(n, rounds * smp_cpu_online_count());
	KT_ASSERT_EQ(hits_wait_for(n), n);
}

static struct {
	spinlock_t lock;
	uint64_t count;
} shared = { SPINLOCK_INIT, 0 };

#define LOCK_ROUNDS 100000

static void locked_increments(void *arg)
{
	for (int i = 0; i < LOCK_ROUNDS; i++) {
		spin_lock(&shared.lock);
		shared.count++; /* plain read-modify-write: only the lock makes it exact */
		spin_unlock(&shared.lock);
	}
}

/* Every CPU increments one counter under one spinlock 100000 times; nothing is lost. */
KTEST(smp_call_spinlock_counter_sums_exactly)
{
	shared.count = 0;
	unsigned n = smp_call(smp_online_mask(), locked_increments, NULL, true);
	KT_ASSERT_EQ(n, smp_cpu_online_count());
	KT_ASSERT_EQ(shared.count, (uint64_t)n * LOCK_ROUNDS);
}

/* Runs on a remote CPU: calls every CPU (itself included) and waits, from inside a
 * call, i.e. with interrupts off, while other CPUs may be calling it. */
static void call_all_and_wait(void *arg)
{
	smp_call(smp_online_mask(), count_hit, hits, true);
}

/*
 * Two CPUs call all CPUs (each other included) at the same moment, 100 rounds: both
 * calls complete and every CPU ran each exactly once.
 */
KTEST(smp_call_concurrent_from_two_cpus_completes)
{
	unsigned n = smp_cpu_online_count();
	if (n < 2) {
		printk("# needs 2 CPUs; only the local half runs\n");
	}
	hits_reset();
	uint64_t want = 0;
	for (int r = 0; r < 100; r++) {
		if (n >= 2) {
			smp_call(cpumask_of(1), call_all_and_wait, NULL, false);
			want += n;
		}
		smp_call(smp_online_mask(), count_hit, hits, true);
		want += n;
	}
	KT_ASSERT_EQ(hits_wait_for(want), want);
	for (unsigned i = 0; i < n; i++)
		KT_ASSERT_EQ(hits[i], n >= 2 ? 200 : 100);
}

/* Every CPU calls every CPU at once (all-to-all), 20 rounds: no deadlock, no loss. */
KTEST(smp_call_all_to_all_completes)
{
	unsigned n = smp_cpu_online_count();
	cpumask_t others = smp_online_mask();
	cpumask_clear(&others, this_cpu_id());
	hits_reset();
	uint64_t want = 0;
	for (int r = 0; r < 20; r++) {
		smp_call(others, call_all_and_wait, NULL, false);
		smp_call(smp_online_mask(), count_hit, hits, true);
		want += (uint64_t)n * n;
	}
	KT_ASSERT_EQ(hits_wait_for(want), want);
}

/* ---- idle work */

static uint32_t idle_release; /* the work waits for this to become 1 */
static uint64_t idle_irqs_on[MAX_CPUS];

/* Long work: records that it runs with interrupts on, then waits (serving calls, as
 * the rules require) until the test releases it. */
static void idle_long_work(void *arg)
{
	uint64_t *h = arg;
	unsigned self = this_cpu_id();
	__atomic_store_n(&idle_irqs_on[self], arch_irqs_enabled() ? 1 : 2, __ATOMIC_RELEASE);
	uint64_t t0 = time_ns();
	while (!__atomic_load_n(&idle_release, __ATOMIC_ACQUIRE) && time_ns() - t0 < WAIT_NS) {
		smp_call_poll();
		arch_cpu_relax();
	}
	__atomic_fetch_add(&h[self], 1, __ATOMIC_RELEASE);
}

/* Idle work runs on each AP with interrupts enabled, one item per CPU at a time (a
 * second post while the first runs is -EBUSY), the CPU still answers smp_call while
 * it runs, and the caller itself is refused. */
KTEST(smp_idle_work_runs_long_with_interrupts_on)
{
	unsigned self = this_cpu_id(), cpu, posted = 0;
	hits_reset();
	__atomic_store_n(&idle_release, 0, __ATOMIC_RELEASE);
	KT_ASSERT_EQ(smp_run_idle_work(self, idle_long_work, hits), (uint64_t)-EINVAL);
	KT_ASSERT_EQ(smp_run_idle_work(MAX_CPUS - 1, idle_long_work, hits), (uint64_t)-EINVAL);
	if (smp_cpu_online_count() < 2)
		KT_SKIP("needs 2 CPUs");
	cpumask_for_each (cpu, smp_online_mask()) {
		if (cpu == self)
			continue;
		__atomic_store_n(&idle_irqs_on[cpu], 0, __ATOMIC_RELAXED);
		KT_ASSERT_EQ(smp_run_idle_work(cpu, idle_long_work, hits), 0);
		posted++;
	}
	/* Every AP is inside its work now (it marked itself) and still serves calls. */
	uint64_t t0 = time_ns();
	cpumask_for_each (cpu, smp_online_mask())
		while (cpu != self && !__atomic_load_n(&idle_irqs_on[cpu], __ATOMIC_ACQUIRE) &&
		       time_ns() - t0 < WAIT_NS)
			arch_cpu_relax();
	cpumask_for_each (cpu, smp_online_mask()) {
		if (cpu == self)
			continue;
		KT_ASSERT_EQ(__atomic_load_n(&idle_irqs_on[cpu], __ATOMIC_ACQUIRE), 1);
		KT_ASSERT_EQ(smp_run_idle_work(cpu, idle_long_work, hits), (uint64_t)-EBUSY);
	}
	KT_ASSERT_EQ(smp_call(smp_online_mask(), count_hit, hits, true), posted + 1);
	__atomic_store_n(&idle_release, 1, __ATOMIC_RELEASE);
	/* posted + 1 call hits, then one hit per AP when its work returns. */
	KT_ASSERT_EQ(hits_wait_for(2 * posted + 1), 2 * posted + 1);
	/* The slots are free again once the work returned. */
	t0 = time_ns();
	cpumask_for_each (cpu, smp_online_mask()) {
		if (cpu == self)
			continue;
		int rc;
		while ((rc = smp_run_idle_work(cpu, count_hit, hits)) == -EBUSY &&
		       time_ns() - t0 < WAIT_NS)
			arch_cpu_relax();
		KT_ASSERT_EQ(rc, 0);
	}
	KT_ASSERT_EQ(hits_wait_for(3 * posted + 1), 3 * posted + 1);
}
