/*
 * Threads and the scheduler (kernel/sched.c; design and rules in kernel/README.md,
 * "Threads"). A thread has its own kernel stack; all threads share one FIFO run queue
 * and any CPU runs any thread unless it is pinned to one CPU. Each CPU also has an idle
 * thread (the AP's start-up context, or a fresh one on the boot CPU) that runs only when
 * the queue has nothing for it and is never preempted, so long idle work (the vmm's
 * vCPU loop, smp_run_idle_work) keeps its CPU. The tick preempts a thread at the end
 * of its slice when another one waits, unless preemption is disabled (spinlocks,
 * interrupts off, epoch sections, cross-CPU calls, preempt_disable).
 *
 * Blocking: sched_park/sched_unpark, a permit per thread (an unpark before the park
 * makes the park return at once); wait queues (waitq.h) build on them.
 */
#ifndef KEEL_SCHED_H
#define KEEL_SCHED_H

#include <keel/arch.h>
#include <keel/compiler.h>
#include <keel/list.h>
#include <keel/types.h>
#include <keel/waitq.h>

typedef void (*thread_fn)(void *arg);
struct vm_space;

enum thread_state {
	THREAD_NEW,	/* created, not started */
	THREAD_READY,	/* on the run queue */
	THREAD_RUNNING, /* on a CPU */
	THREAD_BLOCKED, /* parked: off every queue until unparked (or its deadline) */
	THREAD_EXITING, /* in thread_exit: its last switch is under way */
	THREAD_DEAD,	/* returned or exited; switched away from for the last time */
};

#define THREAD_ANY_CPU (-1)
#define THREAD_NAME_MAX 16
#define THREAD_STACK_SIZE 16384

/*
 * Lock legend: [c] const after creation  [q] the scheduler's lock  [o] the thread
 * itself  [a] atomic
 */
struct thread {
	uint64_t ksp;		 /* [q] saved stack pointer while switched out */
	uint8_t *stack;		 /* [c] THREAD_STACK_SIZE bytes, or NULL (boot stacks) */
	void *stack_frame;	 /* [c] its struct frame, to free */
	enum thread_state state; /* [q] */
	bool permit;		 /* [q] an unpark waits to be consumed by a park */
	bool idle;		 /* [c] a CPU's idle thread */
	int cpu_pin;		 /* [c] THREAD_ANY_CPU or the only CPU it runs on */
	unsigned cpu;		 /* [q] CPU it runs (or last ran) on */
	struct list_node link;	 /* [q] run queue or sleeper list */
	uint64_t wake_at;	 /* [q] park deadline (WAITQ_FOREVER: none) */
	bool sleeping;		 /* [q] on the sleeper list */
	thread_fn fn;		 /* [c] */
	void *arg;		 /* [c] */
	uint64_t switch_count;	 /* [a] times switched in */
	struct waitq exit_wq;	 /* woken when it is THREAD_DEAD */
	void *user;		 /* [c] kernel/user's struct uthread, NULL for kernel threads */
	struct vm_space *space;	 /* [c] loaded while it runs (user threads), else NULL */
	struct arch_thread_state *arch; /* [o] arch extras (FPU state of user threads) */
	char name[THREAD_NAME_MAX];	/* [c] */
};

/* Start-up: the boot CPU's context becomes the thread "main" (pinned to CPU 0) and the
 * boot CPU gets an idle thread. Call once, after the heap, before other CPUs start. */
void sched_init(void);
/* An AP's start-up context becomes its idle thread (arch calls it before going online). */
void sched_init_ap(unsigned cpu);

/*
 * Creates a thread that will run fn(arg) with interrupts enabled and exit when fn
 * returns; cpu_pin: THREAD_ANY_CPU or a CPU. Not started until thread_start. Returns
 * NULL when out of memory.
 */
struct thread *thread_create(const char *name, thread_fn fn, void *arg, int cpu_pin) __must_check;
/* Makes t runnable. */
void thread_start(struct thread *t);
/* Ends the running thread (never the idle or main thread). */
__noreturn void thread_exit(void);
/* Waits until t is dead, then frees it. Exactly one join per created thread. */
void thread_join(struct thread *t);
/* Frees a dead thread (thread_join does it; for owners that waited otherwise). */
void thread_free(struct thread *t);

/* The running thread. */
struct thread *sched_self(void);
/* Lets another ready thread run first (back of the queue). */
void thread_yield(void);
/* Blocks until sched_unpark(self) (a permit from before returns at once) or until
 * time_ns() >= deadline_ns. Interrupts enabled, no spinlock held. The idle thread
 * spins instead (it has nobody to switch to). */
void sched_park(uint64_t deadline_ns);
/* Gives t its permit: wakes it if parked. Any context. */
void sched_unpark(struct thread *t);

/* Preemption (nests). The arch keeps the count per CPU; see arch.h. */
static inline void preempt_disable(void)
{
	arch_preempt_disable();
}
static inline void preempt_enable(void)
{
	arch_preempt_enable();
}

/* The tick (arch, every CPU, interrupt handler): slices and park deadlines. */
void sched_tick(void);
/* Arch interrupt exit (interrupts off, after EOI): switches if the tick asked for it
 * and preemption is enabled in the interrupted context. */
void sched_irq_exit(void);
/* The idle thread's check (interrupts off or on): true if a thread may run here. */
bool sched_has_work(void);
/* The idle thread runs ready threads until none is left for this CPU. */
void sched_idle_run(void);

/* Statistics (tests): switches on every CPU, preemptions by the tick. */
uint64_t sched_switch_count(void);
uint64_t sched_preempt_count(void);

/* ---- Arch hooks (arch/x86_64/thread.c, switch.asm) */

/* Prepares t's stack so that the first switch to it runs sched_thread_start(). */
void arch_thread_init(struct thread *t);
/* Saves the callee-saved registers and stack pointer in *prev_ksp and continues on
 * next_ksp (interrupts off). Returns in the context that switches back later. */
void arch_context_switch(uint64_t *prev_ksp, uint64_t next_ksp);
/* Before the switch (interrupts off): the kernel stack for entries from user mode,
 * FPU state, the address space (kernel/user's hook). */
void arch_thread_switch(struct thread *prev, struct thread *next);
/* User threads' arch state (FPU/SSE): set up in t->arch, 0 or -ENOMEM; freed by fini. */
int arch_thread_user_init(struct thread *t) __must_check;
void arch_thread_user_fini(struct thread *t);
/* The idle loop of a CPU (poll calls, run ready threads, halt); never returns. */
__noreturn void arch_idle_loop(void);
/* First code of every new thread, called by the arch with interrupts off. */
__noreturn void sched_thread_start(void);

#endif
