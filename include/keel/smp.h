/*
 * Multiprocessor services for generic code: which CPUs are online, cross-CPU function
 * calls, and stopping the other CPUs on panic. The generic part lives in
 * kernel/smp_call.c; starting CPUs and sending IPIs are arch hooks (arch/x86_64/smp.c).
 *
 * Interrupt-safety rules for cross-CPU calls (also in kernel/README.md):
 *  - A called function runs on its target CPU with interrupts disabled, either in the
 *    call IPI handler or from a waiting CPU's poll loop. It must be short, must not
 *    sleep, and must only take spinlocks in their irqsave form (it may interrupt a
 *    holder of a plain spin_lock on that CPU otherwise: self-deadlock).
 *  - A caller that waits (smp_call with wait, or for a slot still in use) keeps
 *    running its own CPU's call queue while it spins, so two CPUs calling each other at
 *    once both make progress, with interrupts enabled or not.
 *  - Never wait while holding a spinlock that a called function might take (with
 *    interrupts enabled or not): the target would spin on it forever.
 *  - Calls are counted in memory (each request has its own completion flag); the IPI
 *    is only a doorbell, so IPIs that coalesce in the target's IRR lose nothing.
 */
#ifndef KEEL_SMP_H
#define KEEL_SMP_H

#include <keel/arch.h>
#include <keel/compiler.h>
#include <keel/cpumask.h>

typedef void (*smp_call_fn)(void *arg);

/* Dense index of the running CPU (0 is the boot CPU). */
static inline unsigned this_cpu_id(void)
{
	return arch_cpu_id();
}

/* CPUs that finished start-up and service calls. The boot CPU is always online. */
unsigned smp_cpu_online_count(void);
cpumask_t smp_online_mask(void);
bool smp_cpu_is_online(unsigned cpu);

/*
 * Runs fn(arg) once on each online CPU in cpus (offline ones are skipped), the
 * running CPU included if it is in the set (run directly, interrupts disabled). Remote
 * CPUs get one VEC_IPI_CALL doorbell each. With wait, returns after every fn has
 * returned; without, returns once the requests are queued (arg must then stay valid
 * until the functions ran). Returns the number of CPUs fn was (or will be) run on.
 * Callable with interrupts enabled or disabled and from called functions; see the
 * rules above about spinlocks.
 */
unsigned smp_call(cpumask_t cpus, smp_call_fn fn, void *arg, bool wait);

/* Runs the requests queued for this CPU now (interrupts are disabled while they
 * run). For wait loops and the idle loop; the IPI handler calls it too. */
void smp_call_poll(void);

/*
 * Halts every other CPU for good (panic): a VEC_IPI_STOP doorbell, then an NMI to
 * those that did not stop (e.g. spinning with interrupts off). Safe with interrupts
 * off; bounded in time. Later calls do nothing.
 */
void smp_stop_others(void);
/*
 * Long-running work for an idle CPU (e.g. a vCPU scheduling loop). Unlike smp_call,
 * fn runs from the target's idle loop with interrupts ENABLED, outside any interrupt
 * handler, so it may run for long, wait and use smp_call itself. One work item per
 * CPU at a time: returns 0, -EBUSY if cpu still has work queued or running, -EINVAL
 * if cpu is offline or is the caller. The caller learns of completion through fn's
 * own means (e.g. a counter fn decrements when it returns).
 */
int smp_run_idle_work(unsigned cpu, smp_call_fn fn, void *arg) __must_check;
/* Runs this CPU's idle work, if any (the arch idle loop calls it, interrupts on). */
void smp_idle_work_poll(void);
/* True if idle work waits for this CPU (checked with interrupts off before HLT). */
bool smp_idle_work_pending(void);

/* True once smp_stop_others has started (an NMI handler may check it). */
bool smp_stop_in_progress(void);

/* Start-up and arch hooks. */
/* Starts every CPU the firmware lists (arch). Call once on the boot CPU. */
void smp_start_aps(void);
/* Marks the running CPU online (arch start-up code, once per CPU). */
void smp_mark_online(unsigned cpu);
/* Sends the call doorbell to CPU cpu (arch). */
void arch_smp_send_call_ipi(unsigned cpu);

#endif
