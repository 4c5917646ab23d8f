/*
 * Cross-CPU function calls and the set of online CPUs. Generic: the arch only starts
 * CPUs, rings the call doorbell (arch_smp_send_call_ipi) and calls smp_call_poll from
 * its doorbell handler. The interrupt-safety rules are in include/keel/smp.h and
 * kernel/README.md ("Interrupt safety").
 *
 * Design. Every (caller, target) pair of CPUs owns one request slot. A caller claims
 * its slot for the target (waiting, while running its own queue, if its previous
 * request there has not run yet), fills it and pushes it on the target's lock-free
 * queue with interrupts off, then rings the doorbell. The target takes its whole
 * queue with one atomic exchange, runs the requests in arrival order and marks each
 * done. Work is counted in the slots, never in interrupts, so coalesced doorbells
 * lose nothing; no allocation, no lock, so any context may call.
 *
 * A caller does not move between CPUs while in smp_call: preemption is disabled from
 * its first to its last step (the tick would otherwise switch threads mid-call).
 */
#include <keel/check.h>
#include <keel/errno.h>
#include <keel/printk.h>
#include <keel/smp.h>
#include <keel/time.h>

/* Lock legend: [o] the calling CPU, while the slot is idle  [a] atomic
 * [t] the target CPU, after taking the slot off its queue, until it marks it idle */
struct call_req {
	struct call_req *next; /* [o] before the push, then [t]: queue link */
	smp_call_fn fn;	       /* [o] */
	void *arg;	       /* [o] */
	uint32_t busy;	       /* [a] 1 from the claim until fn has returned on the target */
};

struct call_queue {
	struct call_req *head; /* [a] LIFO of pending requests (Treiber stack) */
} __aligned(64);

static struct call_req call_reqs[MAX_CPUS][MAX_CPUS]; /* [caller][target] */

/* Idle work: [a] claimed by a caller (busy 0 -> 1), taken and run by the target. */
struct idle_work {
	smp_call_fn fn; /* [o] set after the claim, before `ready` */
	void *arg;	/* [o] */
	uint32_t busy;	/* [a] 1 from the claim until fn has returned */
	uint32_t ready; /* [a] 1 once fn/arg are published */
} __aligned(64);
static struct idle_work idle_works[MAX_CPUS];
static struct call_queue call_queues[MAX_CPUS];
static cpumask_t online_mask = { 1 }; /* [a] the boot CPU is online from the start */

#define CALL_WAIT_WARN_NS (5 * NSEC_PER_SEC)

unsigned smp_cpu_online_count(void)
{
	return cpumask_weight(cpumask_read(&online_mask));
}

cpumask_t smp_online_mask(void)
{
	return cpumask_read(&online_mask);
}

bool smp_cpu_is_online(unsigned cpu)
{
	return cpumask_test(cpumask_read(&online_mask), cpu);
}

void smp_mark_online(unsigned cpu)
{
	CHECK(cpu < MAX_CPUS);
	cpumask_set_atomic(&online_mask, cpu);
}

/* Reverses a request list taken from a queue (LIFO) into arrival order. */
static struct call_req *req_list_reverse(struct call_req *r)
{
	struct call_req *out = NULL;
	while (r) {
		struct call_req *next = r->next;
		r->next = out;
		out = r;
		r = next;
	}
	return out;
}

void smp_call_poll(void)
{
	struct call_queue *q = &call_queues[this_cpu_id()];
	unsigned long flags = arch_irq_save();
	struct call_req *list;
	while ((list = __atomic_exchange_n(&q->head, NULL, __ATOMIC_ACQUIRE))) {
		list = req_list_reverse(list);
		while (list) {
			struct call_req *r = list;
			smp_call_fn fn = r->fn;
			void *arg = r->arg;
			list = r->next; /* r may be reused as soon as it is idle */
			fn(arg);
			__atomic_store_n(&r->busy, 0, __ATOMIC_RELEASE);
		}
	}
	arch_irq_restore(flags);
}

/* Spins until r is idle, running this CPU's own requests meanwhile (so two CPUs
 * waiting for each other both progress). Warns once if it takes very long. */
static void req_wait_idle(struct call_req *r, unsigned target)
{
	uint64_t start = time_ns();
	bool warned = false;
	while (__atomic_load_n(&r->busy, __ATOMIC_ACQUIRE)) {
		smp_call_poll();
		arch_cpu_relax();
		if (!warned && time_ns() - start > CALL_WAIT_WARN_NS) {
			printk(KERN_WARN "smp_call: CPU %u still waiting for CPU %u after 5 s\n",
			       this_cpu_id(), target);
			warned = true;
		}
	}
}

/* Claims, fills and queues self's slot for target, then rings the doorbell. The
 * claim and the push happen with interrupts off, so a busy slot is always queued
 * (a nested smp_call from an interrupt on this CPU can wait for it safely). */
static void req_post(unsigned self, unsigned target, smp_call_fn fn, void *arg)
{
	struct call_req *r = &call_reqs[self][target];
	struct call_queue *q = &call_queues[target];
	for (;;) {
		unsigned long flags = arch_irq_save();
		if (!__atomic_load_n(&r->busy, __ATOMIC_ACQUIRE)) {
			r->fn = fn;
			r->arg = arg;
			__atomic_store_n(&r->busy, 1, __ATOMIC_RELAXED);
			struct call_req *old = __atomic_load_n(&q->head, __ATOMIC_RELAXED);
			do {
				r->next = old;
			} while (!__atomic_compare_exchange_n(&q->head, &old, r, true,
							      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
			arch_irq_restore(flags);
			break;
		}
		arch_irq_restore(flags);
		req_wait_idle(r, target);
	}
	arch_smp_send_call_ipi(target);
}

unsigned smp_call(cpumask_t cpus, smp_call_fn fn, void *arg, bool wait)
{
	unsigned self, cpu, n = 0;

	arch_preempt_disable();
	self = this_cpu_id();
	cpus = cpumask_and(cpus, smp_online_mask());
	cpumask_for_each (cpu, cpus) {
		if (cpu != self) {
			req_post(self, cpu, fn, arg);
			n++;
		}
	}
	if (cpumask_test(cpus, self)) {
		unsigned long flags = arch_irq_save();
		fn(arg);
		arch_irq_restore(flags);
		n++;
	}
	if (wait) {
		cpumask_for_each (cpu, cpus) {
			if (cpu != self)
				req_wait_idle(&call_reqs[self][cpu], cpu);
		}
	}
	arch_preempt_enable();
	return n;
}

int smp_run_idle_work(unsigned cpu, smp_call_fn fn, void *arg)
{
	if (cpu >= MAX_CPUS || cpu == this_cpu_id() || !smp_cpu_is_online(cpu))
		return -EINVAL;
	struct idle_work *w = &idle_works[cpu];
	uint32_t idle = 0;
	if (!__atomic_compare_exchange_n(&w->busy, &idle, 1, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return -EBUSY;
	w->fn = fn;
	w->arg = arg;
	__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
	arch_smp_send_call_ipi(cpu); /* wakes the target's idle HLT */
	return 0;
}

void smp_idle_work_poll(void)
{
	struct idle_work *w = &idle_works[this_cpu_id()];
	if (!__atomic_load_n(&w->ready, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&w->ready, 0, __ATOMIC_RELAXED);
	smp_call_fn fn = w->fn;
	void *arg = w->arg;
	fn(arg);
	__atomic_store_n(&w->busy, 0, __ATOMIC_RELEASE);
}

bool smp_idle_work_pending(void)
{
	return __atomic_load_n(&idle_works[this_cpu_id()].ready, __ATOMIC_ACQUIRE) != 0;
}
