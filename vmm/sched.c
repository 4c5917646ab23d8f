/*
 * The vCPU scheduler: one FIFO run queue shared by every CPU with VMX on. Each CPU
 * takes a vCPU, runs it for a time slice (the VMX-preemption timer makes the guest
 * exit when the slice ends, 10 ms of TSC time), and puts it back only if another vCPU
 * is waiting; otherwise it keeps running it. So guests run at the same time on
 * different CPUs, and vCPUs share CPUs in turn when they outnumber them. A vCPU that
 * moves to another CPU takes its VMCS along (vmcs.c: VMCLEAR here, VMPTRLD there).
 *
 * The time limit (limit=MS) and the end of a guest are checked at every exit; when a
 * guest ends, the CPUs running its other vCPUs get an IPI so they exit at once.
 * A vCPU that HLTs with its virtual timer armed blocks until the timer: it sleeps on
 * its CPU if nobody else waits, else goes back to the queue marked "not before".
 * A vCPU retires when its guest ended or it halted for good (HLT with nothing that
 * could wake it); the last vCPU to retire finishes the guest (the caller's `done`);
 * when every vCPU of every guest has retired, every CPU leaves its loop.
 *
 * Context: the loop runs with interrupts enabled (exit handlers may fault pages in and
 * wait for other CPUs); interrupts are off only around VM entry and VMCS switches.
 * Lock order: see the top of kernel/mm/pt_walk.c (the run-queue lock takes no
 * other lock inside).
 */
#include <arch/cpu.h>
#include <keel/check.h>
#include <keel/printk.h>
#include <keel/smp.h>
#include <keel/string.h>
#include <keel/time.h>

#include "dev/pit.h"
#include "dev/timer.h"
#include "dump.h"
#include "exit.h"
#include "exit_handlers.h"
#include "gdb/gdb.h"
#include "hypercall.h"
#include "sched.h"
#include "vmcs.h"
#include "xstate.h"

#define SLICE_MS 10

/* [q] the lock; hints ([h]) are also read without it. */
struct runq {
	spinlock_t lock;
	struct vcpu *head, *tail; /* [q] runnable, FIFO */
	struct vcpu *sleep;	  /* [q] blocked in HLT until their wake_at */
	struct vcpu *parked;	  /* [q][h] stopped for gdb until gdb_vcpu_may_run */
	unsigned len;		  /* [q][h] runnable ones */
	uint64_t next_wake;	  /* [q][h] earliest wake_at in sleep */
};

/* Proof that the run-queue lock is held (interrupts off): only runq_lock() makes one. */
struct runq_locked {
	struct runq *q;
	unsigned long flags;
};

static struct runq runq = { .lock = SPINLOCK_INIT, .next_wake = ~0ull };
static unsigned vcpus_live;		  /* [a] vCPUs queued or running */
static unsigned cpus_in_loop;		  /* [a] CPUs still in sched_loop */
static unsigned running_now, running_max; /* [a] vCPUs in guest mode at once */
static struct guest *sched_guests[GUEST_MAX];
static unsigned sched_guest_count;
static uint64_t slice_cycles;
static sched_guest_done_fn guest_done;

static struct runq_locked runq_lock(void)
{
	unsigned long flags = spin_lock_irqsave(&runq.lock);
	return (struct runq_locked){ .q = &runq, .flags = flags };
}

static void runq_unlock(struct runq_locked l)
{
	spin_unlock_irqrestore(&l.q->lock, l.flags);
}

static void runq_append(struct runq_locked l, struct vcpu *v)
{
	struct runq *q = l.q;
	v->next = NULL;
	if (q->tail)
		q->tail->next = v;
	else
		q->head = v;
	q->tail = v;
	__atomic_store_n(&q->len, q->len + 1, __ATOMIC_RELAXED);
}

/* Queues v: runnable at the tail, or on the sleep list while v->wake_at lies ahead. */
static void runq_push(struct vcpu *v)
{
	struct runq_locked l = runq_lock();
	if (v->wake_at > rdtsc() && !guest_ended(v->guest) && !vcpu_is_kicked(v)) {
		v->next = l.q->sleep;
		l.q->sleep = v;
		__atomic_store_n(&l.q->next_wake, MIN(l.q->next_wake, v->wake_at),
				 __ATOMIC_RELAXED);
	} else {
		runq_append(l, v);
	}
	runq_unlock(l);
}

/* Moves sleepers that are due (or whose guest ended) to the run queue. */
static void sleepq_wake_due(struct runq_locked l, uint64_t now)
{
	struct vcpu **pp = &l.q->sleep;
	uint64_t next = ~0ull;
	while (*pp) {
		struct vcpu *v = *pp;
		if (v->wake_at <= now || guest_ended(v->guest) || vcpu_is_kicked(v)) {
			*pp = v->next;
			runq_append(l, v);
		} else {
			next = MIN(next, v->wake_at);
			pp = &v->next;
		}
	}
	__atomic_store_n(&l.q->next_wake, next, __ATOMIC_RELAXED);
}

/* Takes v off the CPUs until gdb lets it run (gdb/gdb.h). */
static void runq_park(struct vcpu *v)
{
	struct runq_locked l = runq_lock();
	v->next = l.q->parked;
	__atomic_store_n(&l.q->parked, v, __ATOMIC_RELAXED);
	runq_unlock(l);
	gdb_vcpu_parked(v);
}

/* Moves the parked vCPUs that gdb resumed (or whose guest ended) to the run queue. */
static void runq_unpark_ready(void)
{
	if (!__atomic_load_n(&runq.parked, __ATOMIC_RELAXED))
		return;
	struct runq_locked l = runq_lock();
	struct vcpu **pp = &l.q->parked;
	while (*pp) {
		struct vcpu *v = *pp;
		if (gdb_vcpu_may_run(v)) {
			*pp = v->next;
			runq_append(l, v);
		} else {
			pp = &v->next;
		}
	}
	runq_unlock(l);
}

/* Takes the first runnable vCPU, after waking the sleepers that are due. */
static struct vcpu *runq_pop(void)
{
	uint64_t now = rdtsc();
	struct runq_locked l = runq_lock();
	struct runq *q = l.q;
	(void)vcpu_kicks_take(); /* before the scan: a later kick is seen next time */
	if (q->sleep)
		sleepq_wake_due(l, now);
	struct vcpu *v = q->head;
	if (v) {
		q->head = v->next;
		if (!q->head)
			q->tail = NULL;
		__atomic_store_n(&q->len, q->len - 1, __ATOMIC_RELAXED);
		v->wake_at = 0;
	}
	runq_unlock(l);
	return v;
}

/* Unlocked hint: does a vCPU wait for a CPU now (runnable, or a sleeper due)? */
static bool sched_others_waiting(uint64_t now)
{
	return __atomic_load_n(&runq.len, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&runq.next_wake, __ATOMIC_RELAXED) <= now || vcpu_kicks_pending();
}

void sched_add_guest(struct guest *g)
{
	CHECK(sched_guest_count < GUEST_MAX);
	sched_guests[sched_guest_count++] = g;
	for (unsigned i = 0; i < g->vcpu_count; i++) {
		__atomic_fetch_add(&vcpus_live, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&g->vcpus_live, 1, __ATOMIC_RELAXED);
		runq_push(&g->vcpus[i]);
	}
}

static void running_inc(void)
{
	unsigned n = __atomic_add_fetch(&running_now, 1, __ATOMIC_RELAXED);
	unsigned m = __atomic_load_n(&running_max, __ATOMIC_RELAXED);
	while (n > m && !__atomic_compare_exchange_n(&running_max, &m, n, true, __ATOMIC_RELAXED,
						     __ATOMIC_RELAXED))
		;
}

/* After g ended: makes the CPUs running its other vCPUs exit now. */
static void guest_kick_others(struct guest *g, struct vcpu *self)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the end is published: see stint_begin */
	for (unsigned i = 0; i < g->vcpu_count; i++)
		if (&g->vcpus[i] != self)
			vcpu_kick(&g->vcpus[i]);
}

/* How a stint (one CPU running one vCPU without a break) goes on or ends. */
enum stint_end {
	STINT_CONTINUE,
	STINT_REQUEUE,
	STINT_BLOCKED,
	STINT_HALTED,
	STINT_ENDED,
	STINT_PARKED, /* stopped for gdb */
};

/* Sleeps on this CPU while v is blocked in HLT, as long as no other vCPU waits for a
 * CPU. Returns true if v may run again, false to give the CPU up. The time asleep is
 * not counted as v's run time. Granularity: the 100 Hz tick (or a kick). */
static bool vcpu_wait_here(struct vcpu *v, uint64_t *asleep)
{
	uint64_t t0 = rdtsc();
	bool run = true;
	while (!guest_ended(v->guest) && rdtsc() < v->wake_at && !vcpu_is_kicked(v)) {
		if (sched_others_waiting(rdtsc())) {
			run = false;
			break;
		}
		cli();
		if (!guest_ended(v->guest) && rdtsc() < v->wake_at && !vcpu_is_kicked(v))
			__asm__ __volatile__("sti; hlt" ::: "memory"); /* next tick or IPI */
		else
			sti();
		smp_call_poll();
	}
	*asleep += rdtsc() - t0;
	if (run)
		v->wake_at = 0;
	return run;
}

/* Loads v on this CPU and publishes that it runs here. False (the guest killed) if
 * its VMCS could not be loaded. */
static bool stint_begin(struct vcpu *v)
{
	unsigned long flags = arch_irq_save();
	int err = vmcs_load(v);
	arch_irq_restore(flags);
	if (err) {
		guest_kill(v->guest, "VMCS load/set-up failed on CPU %u (VMPTRLD/VMWRITE)",
			   this_cpu_id());
		return false;
	}
	cpumask_set(&v->ran_on, this_cpu_id());
	/* Publish running_on before reading the guest's state (guest_ended in the loop);
	 * the ending CPU sets the state before reading running_on (guest_kick_others).
	 * With a full fence on both sides one of them sees the other. */
	__atomic_store_n(&v->running_on, (int)this_cpu_id(), __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	v->slices++;
	return true;
}

static void stint_finish(struct vcpu *v, uint64_t t0, uint64_t asleep)
{
	__atomic_store_n(&v->running_on, -1, __ATOMIC_RELAXED);
	v->run_cycles += rdtsc() - t0 - asleep;
	unsigned long flags = arch_irq_save();
	vmcs_unload(v);
	arch_irq_restore(flags);
}

/* Before each entry: has the guest ended, its time limit passed, the slice ended with
 * another vCPU waiting? A slice nobody waits for is renewed. */
static enum stint_end before_entry(struct vcpu *v, uint64_t now, uint64_t *slice_end)
{
	struct guest *g = v->guest;
	if (guest_ended(g))
		return STINT_ENDED;
	if (g->deadline && now >= g->deadline) {
		guest_kill(g, "time limit of %llu ms reached", (unsigned long long)g->limit_ms);
		return STINT_ENDED;
	}
	if (now >= *slice_end) {
		if (sched_others_waiting(now))
			return STINT_REQUEUE;
		*slice_end = now + slice_cycles;
		v->slices++;
	}
	return STINT_CONTINUE;
}

/* The VMX-preemption timer ends the guest's run at the slice end, the time limit or
 * the next timer interrupt (vcpu_next_timer: virtual timer, LAPIC timer, PIT), whichever comes
 * first (SDM Vol 3C 26.5.1). */
static void arm_preempt_timer(struct vcpu *v, uint64_t now, uint64_t slice_end)
{
	if (!vmx_caps.preempt_timer)
		return;
	uint64_t deadline = v->guest->deadline, timer = vcpu_next_timer(v);
	uint64_t stop = deadline ? MIN(slice_end, deadline) : slice_end;
	if (timer)
		stop = MIN(stop, timer);
	uint64_t ticks = stop > now ? (stop - now) >> vmx_caps.preempt_shift : 0;
	(void)vmwrite(VMCS_PREEMPT_TIMER, MIN(ticks, 0xFFFFFFFFull));
}

/* Enters v once and handles the exit it takes. */
static enum exit_action vcpu_enter(struct vcpu *v)
{
	cli();
	running_inc();
	vcpu_xcr0_load(v);
	int rc = vmx_enter(&v->regs, v->launched);
	__atomic_fetch_sub(&running_now, 1, __ATOMIC_RELAXED);
	sti(); /* a pending host interrupt (external-interrupt exit) is taken here */
	if (rc) {
		vmx_entry_failed(v, rc);
		return EXIT_STOP;
	}
	v->launched = true;
	return vmx_exit_dispatch(v);
}

/* What the stint does after an exit handler's answer. */
static enum stint_end after_exit(struct vcpu *v, enum exit_action a, uint64_t *asleep)
{
	struct guest *g = v->guest;
	switch (a) {
	case EXIT_STOP:
		return STINT_ENDED;
	case EXIT_HALT:
		return STINT_HALTED;
	case EXIT_YIELD:
		v->yields++;
		if (sched_others_waiting(rdtsc()))
			return STINT_REQUEUE;
		arch_cpu_relax();
		break;
	case EXIT_BLOCK:
		if (g->deadline)
			v->wake_at = MIN(v->wake_at, g->deadline); /* limit= holds while blocked */
		if (!vcpu_wait_here(v, asleep))
			return STINT_BLOCKED;
		break;
	case EXIT_RESUME:
		break;
	}
	return STINT_CONTINUE;
}

/* Runs v on this CPU until its slice ends with others waiting, it halts or blocks
 * with others waiting, or its guest ends. */
static enum stint_end vcpu_run(struct vcpu *v)
{
	if (!stint_begin(v)) {
		guest_kick_others(v->guest, v);
		return STINT_ENDED;
	}
	uint64_t t0 = rdtsc(), slice_end = t0 + slice_cycles, asleep = 0;
	enum stint_end end;
	do {
		uint64_t now = rdtsc();
		end = before_entry(v, now, &slice_end);
		if (end == STINT_CONTINUE) {
			enum exit_action a = vcpu_deliver_events(v, now);
			if (a == EXIT_RESUME && gdb_before_entry(v)) {
				end = STINT_PARKED;
				break;
			}
			if (a == EXIT_RESUME) {
				arm_preempt_timer(v, now, slice_end);
				a = vcpu_enter(v);
			}
			end = after_exit(v, a, &asleep);
		}
	} while (end == STINT_CONTINUE);
	if (end == STINT_ENDED)
		dump_at_end(v, true); /* killed or dump=: with this vCPU's VMCS */
	stint_finish(v, t0, asleep);
	if (end == STINT_ENDED)
		guest_kick_others(v->guest, v);
	return end;
}

/* v will not run again. The last vCPU of a guest to retire finishes it. */
static void vcpu_retire(struct vcpu *v, bool halted)
{
	struct guest *g = v->guest;
	hc_cont_abort(v); /* a long hypercall cut short by the guest's end drops its pins */
	gdb_vcpu_retired(v);
	vmcs_free(v);
	/* A vCPU retires without its guest ending only by halting; if it was the last
	 * one able to run, the guest is over. */
	unsigned left = __atomic_sub_fetch(&g->vcpus_live, 1, __ATOMIC_SEQ_CST);
	if (left == 0) {
		if (halted && !guest_ended(g))
			guest_kill(g,
				   "every vCPU halted for good (last HLT at RIP 0x%llx with "
				   "interrupts disabled or no timer armed)",
				   (unsigned long long)v->rip);
		dump_at_end(v, false);
		guest_done(g);
	} else if (halted && left == __atomic_load_n(&g->vcpus_parked, __ATOMIC_SEQ_CST) &&
		   !guest_ended(g)) {
		/* the rest wait for a SIPI that no running vCPU is left to send */
		guest_kill(
		    g, "every vCPU halted for good or waits for a SIPI (last HLT at RIP 0x%llx)",
		    (unsigned long long)v->rip);
		guest_kick_others(g, v);
	}
	__atomic_sub_fetch(&vcpus_live, 1, __ATOMIC_ACQ_REL);
}

/* Nothing runnable: sleeps until the next interrupt (tick, or a kick); a requeued
 * vCPU waits at most one tick. */
static void sched_idle(void)
{
	cli();
	if (!sched_others_waiting(rdtsc()) && __atomic_load_n(&vcpus_live, __ATOMIC_ACQUIRE))
		__asm__ __volatile__("sti; hlt" ::: "memory");
	else
		sti();
	smp_call_poll();
}

/* Runs v for one stint and puts it back or retires it. */
static void sched_one(struct vcpu *v)
{
	if (guest_ended(v->guest)) {
		vcpu_retire(v, false);
		return;
	}
	if (vmcs_alloc(v)) {
		guest_kill(v->guest, "out of memory for a VMCS");
		guest_kick_others(v->guest, v);
		vcpu_retire(v, false);
		return;
	}
	enum stint_end end = vcpu_run(v);
	if (end == STINT_REQUEUE || end == STINT_BLOCKED)
		runq_push(v);
	else if (end == STINT_PARKED)
		runq_park(v);
	else
		vcpu_retire(v, end == STINT_HALTED);
}

/* One CPU's loop: take a vCPU, run it, put it back or retire it. */
static void sched_loop(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&vcpus_live, __ATOMIC_ACQUIRE)) {
		gdb_poll();
		runq_unpark_ready();
		struct vcpu *v = runq_pop();
		if (v)
			sched_one(v);
		else
			sched_idle();
	}
	__atomic_sub_fetch(&cpus_in_loop, 1, __ATOMIC_RELEASE);
}

/* Starts the clocks of every queued guest. */
static void sched_start_guests(uint64_t hz)
{
	uint64_t now = rdtsc();
	for (unsigned i = 0; i < sched_guest_count; i++) {
		struct guest *g = sched_guests[i];
		g->tsc_start = now;
		g->deadline = g->limit_ms ? now + g->limit_ms * (hz / 1000) : 0;
		g->state = GUEST_RUNNING;
		if (g->gdb)
			(void)gdb_attach(g); /* stops it before its first instruction */
	}
}

/* Sends every other CPU with VMX on into sched_loop. Returns how many CPUs run it. */
static unsigned sched_start_cpus(void)
{
	unsigned cpu, started = 1;
	__atomic_store_n(&cpus_in_loop, 1, __ATOMIC_RELAXED);
	cpumask_for_each (cpu, smp_online_mask()) {
		if (cpu == this_cpu_id() || !vmx_cpu_is_on(cpu))
			continue;
		__atomic_fetch_add(&cpus_in_loop, 1, __ATOMIC_RELAXED);
		if (smp_run_idle_work(cpu, sched_loop, NULL)) {
			__atomic_fetch_sub(&cpus_in_loop, 1, __ATOMIC_RELAXED);
			printk(KERN_WARN "vmm: CPU %u busy, runs no vCPUs\n", cpu);
			continue;
		}
		started++;
	}
	return started;
}

void sched_run(sched_guest_done_fn done)
{
	uint64_t hz = time_cycles_hz();
	slice_cycles = hz ? hz / 1000 * SLICE_MS : 10000000;
	guest_done = done;
	sched_start_guests(hz);
	unsigned started = sched_start_cpus();
	printk("vmm: running %u vCPU(s) of %u guest(s) on %u CPU(s), %u ms slices%s\n",
	       __atomic_load_n(&vcpus_live, __ATOMIC_RELAXED), sched_guest_count, started, SLICE_MS,
	       vmx_caps.preempt_timer ? "" : " (no preemption timer: tick-driven)");
	sched_loop(NULL);
	while (__atomic_load_n(&cpus_in_loop, __ATOMIC_ACQUIRE)) {
		smp_call_poll();
		arch_cpu_relax();
	}
	gdb_poll(); /* tells gdb how its guest ended */
	printk("vmm: all guests ended; at most %u vCPU(s) were in guest mode at once\n",
	       __atomic_load_n(&running_max, __ATOMIC_RELAXED));
}
