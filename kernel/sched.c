/*
 * Threads and the scheduler (include/keel/sched.h; kernel/README.md, "Threads").
 *
 * One ready queue for every CPU, under one lock. Keel runs on a handful of CPUs (1-8
 * in the emulators) and its vCPU scheduler already shares one FIFO (vmm/sched.c); one
 * queue balances load for free, and its lock can be handed across a context switch
 * (the thread switching away takes it, the thread switched to releases it), which makes
 * "nobody runs a thread whose stack is still in use" hold without per-thread flags.
 * Per-CPU queues with stealing would pay off only with many CPUs and threads.
 *
 * Every switch happens with the lock held and interrupts off, on the CPU's own counted
 * preemption (exactly 1: the lock). The switched-to thread drops the lock and goes on
 * with its own interrupt state: a voluntary switch restores the flags it saved, a
 * preempted thread returns through its interrupt frame, a new one enables interrupts.
 *
 * Lock order: waitq locks, then sched.lock (see kernel/mm/pt_walk.c).
 */
#include <keel/check.h>
#include <keel/frame.h>
#include <keel/heap.h>
#include <keel/printk.h>
#include <keel/sched.h>
#include <keel/smp.h>
#include <keel/string.h>
#include <keel/time.h>

#include "runq.h"

#define SLICE_TICKS 2 /* 20 ms at the 100 Hz tick */
#define STACK_ORDER 2
_Static_assert(PAGE_SIZE << STACK_ORDER == THREAD_STACK_SIZE, "STACK_ORDER");

/* Lock legend: [p] the owning CPU only, interrupts off  [a] atomic */
struct sched_cpu {
	struct thread *current; /* [p] */
	struct thread *idle;	/* [p] */
	struct thread *dead;	/* [p] exited thread to announce after the switch */
	uint64_t ticks;		/* [p] */
	uint64_t slice_end;	/* [p] tick at which current's slice ends */
	bool need_resched;	/* [a] the next interrupt exit should switch */
} __aligned(64);

/* Lock legend: [q] lock */
static struct {
	spinlock_t lock;
	struct runq ready;	   /* [q] */
	struct list_node sleepers; /* [q] parked with a deadline */
	uint64_t next_wake;	   /* [q] earliest deadline among sleepers; also a hint */
	cpumask_t idle_cpus;	   /* [a] CPUs running their idle thread */
	uint64_t switches;	   /* [a] */
	uint64_t preemptions;	   /* [a] */
} sched = { .lock = SPINLOCK_INIT, .next_wake = WAITQ_FOREVER };

static struct sched_cpu sched_cpus[MAX_CPUS];
static struct thread boot_threads[MAX_CPUS]; /* main (CPU 0) and the APs' idle threads */
static struct thread *bsp_idle;

/* This CPU's scheduler state. Interrupts off (or preemption disabled). */
static struct sched_cpu *sched_here(void)
{
	return &sched_cpus[arch_cpu_id()];
}

struct thread *sched_self(void)
{
	unsigned long flags = arch_irq_save();
	struct thread *t = sched_here()->current;

	arch_irq_restore(flags);
	return t;
}

/* ---- Waking and picking (sched.lock held) */

/* Nudges a CPU that should run t: an idle one allowed to (the doorbell ends its HLT),
 * else nothing: a busy CPU takes it at its next slice end. */
static void sched_kick(const struct thread *t)
{
	cpumask_t idle = cpumask_and(cpumask_read(&sched.idle_cpus), smp_online_mask());
	unsigned cpu;

	if (t->cpu_pin != THREAD_ANY_CPU)
		idle = cpumask_and(idle, cpumask_of((unsigned)t->cpu_pin));
	cpumask_for_each (cpu, idle) {
		/* claimed: the next kick goes to another idle CPU (its idle loop sets the
		 * bit again when it finds nothing to run) */
		cpumask_clear_atomic(&sched.idle_cpus, cpu);
		if (cpu != arch_cpu_id())
			arch_smp_send_call_ipi(cpu);
		return;
	}
}

static void sched_make_ready(struct thread *t)
{
	if (t->sleeping) {
		list_remove(&t->link);
		t->sleeping = false;
	}
	runq_push(&sched.ready, t);
	sched_kick(t);
}

/* Moves sleepers whose deadline passed to the ready queue. */
static void sched_wake_due(uint64_t now)
{
	struct list_node *it, *tmp;
	uint64_t next = WAITQ_FOREVER;

	list_for_each_safe (it, tmp, &sched.sleepers) {
		struct thread *t = list_entry(it, struct thread, link);

		if (t->wake_at <= now)
			sched_make_ready(t);
		else
			next = MIN(next, t->wake_at);
	}
	__atomic_store_n(&sched.next_wake, next, __ATOMIC_RELAXED);
}

/* The next thread for this CPU: the first ready one allowed here, else its idle one. */
static struct thread *sched_pick(struct sched_cpu *sc)
{
	struct thread *t = runq_pop(&sched.ready, arch_cpu_id());

	return t ? t : sc->idle;
}

/* ---- Switching */

/* Runs in the switched-to thread, first thing: drops the lock the previous thread
 * took, then announces a thread that exited (its stack is no longer in use). */
static void sched_after_switch(void)
{
	struct sched_cpu *sc = sched_here();
	struct thread *dead = sc->dead;

	sc->dead = NULL;
	spin_unlock(&sched.lock);
	if (dead) {
		unsigned long flags = spin_lock_irqsave(&dead->exit_wq.lock);

		__atomic_store_n(&dead->state, THREAD_DEAD, __ATOMIC_RELEASE);
		waitq_wake_all_locked(&dead->exit_wq);
		spin_unlock_irqrestore(&dead->exit_wq.lock, flags);
	}
}

/*
 * Switches from prev (the running thread, already queued, blocked or dead) to next.
 * sched.lock held, interrupts off; returns (lock released by whoever switched to us)
 * when prev runs again.
 */
static void sched_switch(struct sched_cpu *sc, struct thread *prev, struct thread *next)
{
	unsigned cpu = arch_cpu_id();

	next->state = THREAD_RUNNING;
	next->cpu = cpu;
	sc->slice_end = sc->ticks + SLICE_TICKS;
	if (next == prev) {
		spin_unlock(&sched.lock);
		return;
	}
	CHECK(arch_preempt_count() == 1); /* the lock only: nothing else may move CPUs */
	if (next->idle)
		cpumask_set_atomic(&sched.idle_cpus, cpu);
	else
		cpumask_clear_atomic(&sched.idle_cpus, cpu);
	sc->current = next;
	__atomic_fetch_add(&sched.switches, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&next->switch_count, 1, __ATOMIC_RELAXED);
	arch_thread_switch(prev, next);
	arch_context_switch(&prev->ksp, next->ksp);
	sched_after_switch();
}

/* Puts the running thread back at the tail and runs the next one, if any may run here. */
static void sched_requeue_self(void)
{
	struct sched_cpu *sc = sched_here();
	struct thread *self = sc->current;

	spin_lock(&sched.lock);
	if (self->idle || !runq_has(&sched.ready, arch_cpu_id())) {
		sc->slice_end = sc->ticks + SLICE_TICKS;
		spin_unlock(&sched.lock);
		return;
	}
	runq_push(&sched.ready, self);
	sched_switch(sc, self, sched_pick(sc));
}

void thread_yield(void)
{
	unsigned long flags = arch_irq_save();

	sched_requeue_self();
	arch_irq_restore(flags);
}

void sched_park(uint64_t deadline_ns)
{
	unsigned long flags = arch_irq_save();
	struct sched_cpu *sc = sched_here();
	struct thread *self = sc->current;

	spin_lock(&sched.lock);
	if (self->permit || (deadline_ns != WAITQ_FOREVER && time_ns() >= deadline_ns)) {
		self->permit = false;
		spin_unlock(&sched.lock);
	} else if (self->idle) { /* nothing to switch to: wait with interrupts on */
		spin_unlock(&sched.lock);
		arch_irq_restore(flags);
		smp_call_poll();
		arch_cpu_relax();
		return; /* the caller's loop parks again */
	} else {
		self->state = THREAD_BLOCKED;
		self->wake_at = deadline_ns;
		if (deadline_ns != WAITQ_FOREVER) {
			list_push_back(&sched.sleepers, &self->link);
			self->sleeping = true;
			sched.next_wake = MIN(sched.next_wake, deadline_ns);
		}
		sched_switch(sc, self, sched_pick(sc));
	}
	arch_irq_restore(flags);
}

void sched_unpark(struct thread *t)
{
	unsigned long flags = spin_lock_irqsave(&sched.lock);

	if (t->state == THREAD_BLOCKED)
		sched_make_ready(t);
	else
		t->permit = true;
	spin_unlock_irqrestore(&sched.lock, flags);
}

/* ---- The tick and preemption */

void sched_tick(void)
{
	struct sched_cpu *sc = sched_here();
	uint64_t now = time_ns();

	sc->ticks++;
	if (now >= __atomic_load_n(&sched.next_wake, __ATOMIC_RELAXED)) {
		spin_lock(&sched.lock);
		sched_wake_due(now);
		spin_unlock(&sched.lock);
	}
	if (sc->current && !sc->current->idle && sc->ticks >= sc->slice_end &&
	    __atomic_load_n(&sched.ready.count, __ATOMIC_RELAXED))
		__atomic_store_n(&sc->need_resched, true, __ATOMIC_RELAXED);
}

void sched_irq_exit(void)
{
	struct sched_cpu *sc = sched_here();

	if (!__atomic_load_n(&sc->need_resched, __ATOMIC_RELAXED) || arch_preempt_count())
		return;
	__atomic_store_n(&sc->need_resched, false, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sched.preemptions, 1, __ATOMIC_RELAXED);
	sched_requeue_self();
}

/* ---- Idle */

bool sched_has_work(void)
{
	unsigned long flags;
	bool has;

	if (!__atomic_load_n(&sched.ready.count, __ATOMIC_RELAXED))
		return false;
	flags = spin_lock_irqsave(&sched.lock);
	has = runq_has(&sched.ready, arch_cpu_id());
	spin_unlock_irqrestore(&sched.lock, flags);
	return has;
}

void sched_idle_run(void)
{
	unsigned long flags = arch_irq_save();
	struct sched_cpu *sc = sched_here();

	CHECK(sc->current == sc->idle);
	for (;;) {
		struct thread *next;

		spin_lock(&sched.lock);
		next = runq_pop(&sched.ready, arch_cpu_id());
		if (!next) {
			cpumask_set_atomic(&sched.idle_cpus, arch_cpu_id()); /* kicks find us */
			spin_unlock(&sched.lock);
			break;
		}
		sched_switch(sc, sc->idle, next);
	}
	arch_irq_restore(flags);
}

/* ---- Threads */

static void thread_init_fields(struct thread *t, const char *name, int cpu_pin)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->cpu_pin = cpu_pin;
	t->wake_at = WAITQ_FOREVER;
	list_init(&t->link);
	waitq_init(&t->exit_wq);
}

struct thread *thread_create(const char *name, thread_fn fn, void *arg, int cpu_pin)
{
	struct thread *t = kmalloc(sizeof(*t));
	struct frame *stack = frame_alloc(STACK_ORDER, FRAME_KERNEL);

	if (!t || !stack) {
		kfree(t);
		if (stack)
			frame_free(stack, STACK_ORDER);
		return NULL;
	}
	thread_init_fields(t, name, cpu_pin);
	t->state = THREAD_NEW;
	t->stack = frame_kva(stack);
	t->stack_frame = stack;
	t->fn = fn;
	t->arg = arg;
	arch_thread_init(t);
	return t;
}

void thread_start(struct thread *t)
{
	unsigned long flags = spin_lock_irqsave(&sched.lock);

	CHECK(t->state == THREAD_NEW);
	sched_make_ready(t);
	spin_unlock_irqrestore(&sched.lock, flags);
}

__noreturn void sched_thread_start(void)
{
	struct thread *self;

	sched_after_switch();
	arch_irq_enable();
	self = sched_self();
	self->fn(self->arg);
	thread_exit();
}

__noreturn void thread_exit(void)
{
	struct sched_cpu *sc;
	struct thread *self;

	arch_irq_save();
	sc = sched_here();
	self = sc->current;
	CHECK(!self->idle && self->stack);
	spin_lock(&sched.lock);
	self->state = THREAD_EXITING; /* THREAD_DEAD once the switch is done */
	sc->dead = self;
	sched_switch(sc, self, sched_pick(sc));
	panic("dead thread %s ran again", self->name);
}

static bool thread_is_dead(void *arg)
{
	const struct thread *t = arg;

	return __atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == THREAD_DEAD;
}

void thread_join(struct thread *t)
{
	int rc = waitq_wait(&t->exit_wq, thread_is_dead, t, WAITQ_FOREVER);

	CHECK(rc == 0);
	thread_free(t);
}

void thread_free(struct thread *t)
{
	CHECK(thread_is_dead(t) && t->stack_frame);
	if (t->arch)
		arch_thread_user_fini(t);
	frame_free(t->stack_frame, STACK_ORDER);
	kfree(t);
}

/* ---- Start-up */

/* The boot CPU's idle thread: the arch idle loop on a stack of its own. */
static void sched_bsp_idle(void *arg)
{
	(void)arg;
	arch_idle_loop();
}

void sched_init(void)
{
	struct thread *main = &boot_threads[0];
	struct sched_cpu *sc = &sched_cpus[0];

	runq_init(&sched.ready);
	list_init(&sched.sleepers);
	thread_init_fields(main, "main", 0);
	main->state = THREAD_RUNNING;
	bsp_idle = thread_create("idle0", sched_bsp_idle, NULL, 0);
	CHECK(bsp_idle);
	bsp_idle->idle = true;
	bsp_idle->state = THREAD_READY; /* never on the queue: picked when it is empty */
	sc->idle = bsp_idle;
	sc->current = main;
}

void sched_init_ap(unsigned cpu)
{
	struct thread *idle = &boot_threads[cpu];
	char name[THREAD_NAME_MAX];

	snprintf(name, sizeof(name), "idle%u", cpu);
	thread_init_fields(idle, name, (int)cpu);
	idle->idle = true;
	idle->state = THREAD_RUNNING;
	idle->cpu = cpu;
	sched_cpus[cpu].idle = idle;
	sched_cpus[cpu].current = idle;
	cpumask_set_atomic(&sched.idle_cpus, cpu);
}

uint64_t sched_switch_count(void)
{
	return __atomic_load_n(&sched.switches, __ATOMIC_RELAXED);
}

uint64_t sched_preempt_count(void)
{
	return __atomic_load_n(&sched.preemptions, __ATOMIC_RELAXED);
}
