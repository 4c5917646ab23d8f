/*
 * The vCPU scheduler: one FIFO run queue shared by every CPU with VMX on. Each CPU
 * takes a vCPU, runs it for a time slice (the VMX-preemption timer makes the guest
 * exit when the slice ends, 10 ms of TSC time), and puts it back only if another vCPU
 * is waiting; otherwise it keeps running it. So guests run at the same time on
 * different CPUs, and vCPUs share CPUs in turn when they outnumber them.
 *
 * A VMCS is active on at most one CPU (SDM Vol 3C 25.1, 25.11.1): a CPU that gives a
 * vCPU back VMCLEARs its VMCS, so the next CPU VMPTRLDs it, rewrites the host state
 * (per-CPU GDT, TSS, GS base) and enters with VMLAUNCH.
 *
 * The time limit (limit=MS) and the end of a guest are checked at every exit; when a
 * guest ends, the CPUs running its other vCPUs get an IPI so they exit at once.
 * A vCPU that HLTs with its virtual timer armed blocks until the timer: it sleeps on
 * its CPU if nobody else waits, else goes back to the queue marked "not before".
 * A vCPU retires when its guest ended or it halted for good (HLT with nothing that
 * could wake it); the last vCPU to retire finishes the guest; when every vCPU of every guest has
 * retired, every CPU leaves its loop and the boot CPU prints the summary (guest.c).
 *
 * Context: the loop runs with interrupts enabled (exit handlers may fault pages in and
 * wait for other CPUs); interrupts are off only around VM entry and VMCS switches.
 */
#include <arch/cpu.h>
#include <keel/check.h>
#include <keel/printk.h>
#include <keel/smp.h>
#include <keel/string.h>
#include <keel/time.h>

#include "guest.h"

#define SLICE_MS 10

static spinlock_t runq_lock = SPINLOCK_INIT;
static struct vcpu *runq_head, *runq_tail; /* [q] runnable, FIFO */
static struct vcpu *sleepq;		   /* [q] blocked in HLT until their wake_at */
static unsigned runq_len;		   /* [q] runnable ones; read unlocked as a hint */
static uint64_t next_wake = ~0ull;	   /* [q] earliest wake_at in sleepq; hint */
static unsigned vcpus_live;		   /* [a] vCPUs queued or running */
static unsigned cpus_in_loop;		   /* [a] CPUs still in sched_loop */
static unsigned running_now, running_max;  /* [a] vCPUs in guest mode at once */
static struct guest *sched_guests[GUEST_MAX];
static unsigned sched_guest_count;
static uint64_t slice_cycles;

static void runq_append(struct vcpu *v)
{
	v->next = NULL;
	if (runq_tail)
		runq_tail->next = v;
	else
		runq_head = v;
	runq_tail = v;
	__atomic_store_n(&runq_len, runq_len + 1, __ATOMIC_RELAXED);
}

/* Queues v: runnable at the tail, or on the sleep list while v->wake_at lies ahead. */
static void runq_push(struct vcpu *v)
{
	unsigned long flags = spin_lock_irqsave(&runq_lock);
	if (v->wake_at > rdtsc() && !guest_ended(v->guest)) {
		v->next = sleepq;
		sleepq = v;
		__atomic_store_n(&next_wake, MIN(next_wake, v->wake_at), __ATOMIC_RELAXED);
	} else {
		runq_append(v);
	}
	spin_unlock_irqrestore(&runq_lock, flags);
}

/* Moves sleepers that are due (or whose guest ended) to the run queue. Lock held. */
static void sleepq_wake_due(uint64_t now)
{
	struct vcpu **pp = &sleepq;
	uint64_t next = ~0ull;
	while (*pp) {
		struct vcpu *v = *pp;
		if (v->wake_at <= now || guest_ended(v->guest)) {
			*pp = v->next;
			runq_append(v);
		} else {
			next = MIN(next, v->wake_at);
			pp = &v->next;
		}
	}
	__atomic_store_n(&next_wake, next, __ATOMIC_RELAXED);
}

/* Takes the first runnable vCPU, after waking the sleepers that are due. */
static struct vcpu *runq_pop(void)
{
	uint64_t now = rdtsc();
	unsigned long flags = spin_lock_irqsave(&runq_lock);
	if (sleepq)
		sleepq_wake_due(now);
	struct vcpu *v = runq_head;
	if (v) {
		runq_head = v->next;
		if (!runq_head)
			runq_tail = NULL;
		__atomic_store_n(&runq_len, runq_len - 1, __ATOMIC_RELAXED);
		v->wake_at = 0;
	}
	spin_unlock_irqrestore(&runq_lock, flags);
	return v;
}

/* Unlocked hint: does a vCPU wait for a CPU now (runnable, or a sleeper due)? */
static bool sched_others_waiting(uint64_t now)
{
	return __atomic_load_n(&runq_len, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&next_wake, __ATOMIC_RELAXED) <= now;
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

/* Decodes a failed VMLAUNCH/VMRESUME (SDM Vol 3C 31.2, 31.4). */
static void vcpu_entry_failed(struct vcpu *v, int rc)
{
	if (rc == 1) {
		guest_kill(v->guest, "VM entry failed: VMfailInvalid (no current VMCS)");
		return;
	}
	uint32_t e = (uint32_t)vmread(VMCS_INSN_ERROR);
	guest_kill(v->guest, "VM entry failed: VM-instruction error %u: %s", e,
		   vmx_insn_error_str(e));
}

/*
 * An exit in the middle of delivering an event (e.g. an EPT violation on the guest
 * stack while pushing an interrupt frame) leaves the event in the IDT-vectoring
 * information field (SDM Vol 3C 28.2.4); it is injected again at the next entry, or it
 * would be lost. Handlers that inject their own event overwrite this one; a triple
 * fault ends the guest anyway.
 */
static void vcpu_redeliver(struct vcpu *v)
{
	uint32_t info = (uint32_t)vmread(VMCS_IDT_VECTORING_INFO);
	if (!(info >> 31))
		return;
	unsigned type = (info >> 8) & 7;
	(void)vmwrite(VMCS_ENTRY_INTR_INFO, info & ~(1u << 12)); /* bit 12 undefined here */
	if (info & (1u << 11))
		(void)vmwrite(VMCS_ENTRY_EXC_ERROR, vmread(VMCS_IDT_VECTORING_ERROR));
	if (type == 4 || type == 5 || type == 6) /* software interrupt/exception: length */
		(void)vmwrite(VMCS_ENTRY_INSN_LEN, v->insn_len);
}

/* Handles one VM exit. */
static enum exit_action vcpu_handle_exit(struct vcpu *v)
{
	struct guest *g = v->guest;
	uint32_t reason = (uint32_t)vmread(VMCS_EXIT_REASON);
	uint32_t basic = reason & 0xFFFF;
	v->exit_qual = vmread(VMCS_EXIT_QUAL);
	v->rip = vmread(VMCS_GUEST_RIP);
	v->insn_len = vmread(VMCS_EXIT_INSN_LEN);
	v->exit_total++;
	if (basic < EXIT_REASON_COUNT)
		v->exit_count[basic]++;
	vcpu_redeliver(v);
	if (reason & EXIT_REASON_ENTRY_FAIL) /* 27.8: entry failed loading guest state */
		return guest_kill(g, "VM entry failed: exit reason %u (%s), qualification 0x%llx",
				  basic, vmx_exit_reason_str(basic),
				  (unsigned long long)v->exit_qual);
	exit_handler_fn h = basic < EXIT_REASON_COUNT ? vmx_exit_handlers[basic] : NULL;
	if (!h)
		return guest_kill(g, "unhandled exit %u (%s) at RIP 0x%llx, qualification 0x%llx",
				  basic, vmx_exit_reason_str(basic), (unsigned long long)v->rip,
				  (unsigned long long)v->exit_qual);
	return h(v);
}

/* Makes v's VMCS current on this CPU; the first time, fills it. Interrupts off. On
 * failure nothing was activated (the space is activated after the last VMWRITE). */
static int vcpu_load(struct vcpu *v)
{
	int self = (int)this_cpu_id();
	paddr_t pa = frame_pa(v->vmcs);
	if (vmx_vmptrld(pa))
		return -EIO;
	if (!v->initialized) {
		if (vmcs_setup(v))
			return -EIO;
		v->initialized = true;
	} else if (v->host_cpu != self) {
		if (vmcs_setup_host())
			return -EIO;
		v->migrations++;
	}
	bool moved = v->host_cpu != self;
	v->host_cpu = self;
	v->launched = false; /* VMCLEARed when it left the last CPU (or never launched) */
	if (v->vpid && vmwrite(VMCS_VPID, v->vpid))
		return -EIO;
	vm_space_activate(&v->guest->space); /* writes the EPTP into the current VMCS */
	/* This CPU may still hold translations tagged with v's VPID from when v last ran
	 * here, older than what the guest has changed since on other CPUs (28.3.3.3):
	 * drop them. */
	if (moved && v->vpid)
		ept_flush_vpid(v->vpid);
	return 0;
}

/* Writes back and releases v's VMCS so any CPU may load it next. Interrupts off. */
static void vcpu_unload(struct vcpu *v)
{
	vm_space_deactivate(&v->guest->space);
	(void)vmx_vmclear(frame_pa(v->vmcs));
	v->launched = false;
}

static void running_inc(void)
{
	unsigned n = __atomic_add_fetch(&running_now, 1, __ATOMIC_RELAXED);
	unsigned m = __atomic_load_n(&running_max, __ATOMIC_RELAXED);
	while (n > m && !__atomic_compare_exchange_n(&running_max, &m, n, true, __ATOMIC_RELAXED,
						     __ATOMIC_RELAXED))
		;
}

static void kick_nop(void *arg)
{
	(void)arg; /* the IPI itself made the target's guest exit */
}

/* After g ended: makes the CPUs running its other vCPUs exit now. */
static void guest_kick_others(struct guest *g, struct vcpu *self)
{
	cpumask_t m = CPUMASK_NONE;
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the end is published: see vcpu_run */
	for (unsigned i = 0; i < g->vcpu_count; i++) {
		int cpu = __atomic_load_n(&g->vcpus[i].running_on, __ATOMIC_SEQ_CST);
		if (&g->vcpus[i] != self && cpu >= 0)
			cpumask_set(&m, (unsigned)cpu);
	}
	if (!cpumask_is_empty(m))
		(void)smp_call(m, kick_nop, NULL, false);
}

enum stint_end { STINT_REQUEUE, STINT_BLOCKED, STINT_HALTED, STINT_ENDED };

/* Sleeps on this CPU while v is blocked in HLT, as long as no other vCPU waits for a
 * CPU. Returns true if v may run again, false to give the CPU up. The time asleep is
 * not counted as v's run time. Granularity: the 100 Hz tick (or a kick). */
static bool vcpu_wait_here(struct vcpu *v, uint64_t *asleep)
{
	uint64_t t0 = rdtsc();
	bool run = true;
	while (!guest_ended(v->guest) && rdtsc() < v->wake_at) {
		if (sched_others_waiting(rdtsc())) {
			run = false;
			break;
		}
		cli();
		if (!guest_ended(v->guest) && rdtsc() < v->wake_at)
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

/* Runs v on this CPU until its slice ends with others waiting, it halts, or its
 * guest ends. */
static enum stint_end vcpu_run(struct vcpu *v)
{
	struct guest *g = v->guest;
	enum stint_end end = STINT_ENDED;
	unsigned long flags = arch_irq_save();
	if (vcpu_load(v)) {
		guest_kill(g, "VMCS load/set-up failed on CPU %u (VMPTRLD/VMWRITE)", this_cpu_id());
		(void)vmx_vmclear(frame_pa(v->vmcs)); /* vcpu_load activates nothing on failure */
		arch_irq_restore(flags);
		guest_kick_others(g, v);
		return STINT_ENDED;
	}
	arch_irq_restore(flags);
	cpumask_set(&v->ran_on, this_cpu_id());
	/* Publish running_on before reading the guest's state (guest_ended below); the
	 * ending CPU sets the state before reading running_on (guest_kick_others). With
	 * a full fence on both sides one of them sees the other. */
	__atomic_store_n(&v->running_on, (int)this_cpu_id(), __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	v->slices++;
	uint64_t t0 = rdtsc(), slice_end = t0 + slice_cycles, asleep = 0;
	for (;;) {
		if (guest_ended(g))
			break;
		uint64_t now = rdtsc();
		if (g->deadline && now >= g->deadline) {
			guest_kill(g, "time limit of %llu ms reached",
				   (unsigned long long)g->limit_ms);
			break;
		}
		if (now >= slice_end) {
			if (sched_others_waiting(now)) {
				end = STINT_REQUEUE;
				break;
			}
			slice_end = now + slice_cycles;
			v->slices++;
		}
		vcpu_deliver_irq(v, now);
		if (vmx_caps.preempt_timer) {
			uint64_t stop = g->deadline ? MIN(slice_end, g->deadline) : slice_end;
			if (v->timer_deadline && v->irq_pending < 0) /* else it waits to fire */
				stop = MIN(stop, v->timer_deadline);
			uint64_t ticks = stop > now ? (stop - now) >> vmx_caps.preempt_shift : 0;
			(void)vmwrite(VMCS_PREEMPT_TIMER, MIN(ticks, 0xFFFFFFFFull));
		}
		cli();
		running_inc();
		int rc = vmx_enter(&v->regs, v->launched);
		__atomic_fetch_sub(&running_now, 1, __ATOMIC_RELAXED);
		sti(); /* a pending host interrupt (external-interrupt exit) is taken here */
		if (rc) {
			vcpu_entry_failed(v, rc);
			break;
		}
		v->launched = true;
		enum exit_action a = vcpu_handle_exit(v);
		if (a == EXIT_STOP)
			break;
		if (a == EXIT_HALT) {
			end = STINT_HALTED;
			break;
		}
		if (a == EXIT_YIELD) {
			v->yields++;
			if (sched_others_waiting(rdtsc())) {
				end = STINT_REQUEUE;
				break;
			}
			arch_cpu_relax();
		}
		if (a == EXIT_BLOCK && g->deadline)
			v->wake_at = MIN(v->wake_at, g->deadline); /* limit= holds while blocked */
		if (a == EXIT_BLOCK && !vcpu_wait_here(v, &asleep)) {
			end = STINT_BLOCKED;
			break;
		}
	}
	__atomic_store_n(&v->running_on, -1, __ATOMIC_RELAXED);
	v->run_cycles += rdtsc() - t0 - asleep;
	flags = arch_irq_save();
	vcpu_unload(v);
	arch_irq_restore(flags);
	if (end == STINT_ENDED)
		guest_kick_others(g, v);
	return end;
}

/* v will not run again. The last vCPU of a guest to retire finishes it. */
static void vcpu_retire(struct vcpu *v, bool halted)
{
	struct guest *g = v->guest;
	if (v->vmcs)
		frame_free(v->vmcs, 0);
	v->vmcs = NULL;
	/* A vCPU retires without its guest ending only by halting; if it was the last
	 * one able to run, the guest is over. */
	if (__atomic_sub_fetch(&g->vcpus_live, 1, __ATOMIC_ACQ_REL) == 0) {
		if (halted && !guest_ended(g))
			guest_kill(g,
				   "every vCPU halted for good (last HLT at RIP 0x%llx with "
				   "interrupts disabled or no timer armed)",
				   (unsigned long long)v->rip);
		guest_finished(g);
	}
	__atomic_sub_fetch(&vcpus_live, 1, __ATOMIC_ACQ_REL);
}

/* One CPU's loop: take a vCPU, run it, put it back or retire it. */
static void sched_loop(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&vcpus_live, __ATOMIC_ACQUIRE)) {
		struct vcpu *v = runq_pop();
		if (!v) {
			/* Everything runnable runs elsewhere: sleep until the next interrupt
			 * (tick, or a kick); a requeued vCPU waits at most one tick. */
			cli();
			if (!sched_others_waiting(rdtsc()) &&
			    __atomic_load_n(&vcpus_live, __ATOMIC_ACQUIRE))
				__asm__ __volatile__("sti; hlt" ::: "memory");
			else
				sti();
			smp_call_poll();
			continue;
		}
		if (guest_ended(v->guest)) {
			vcpu_retire(v, false);
			continue;
		}
		if (!v->vmcs) {
			v->vmcs = frame_alloc(0, FRAME_KERNEL);
			if (!v->vmcs) {
				guest_kill(v->guest, "out of memory for a VMCS");
				guest_kick_others(v->guest, v);
				vcpu_retire(v, false);
				continue;
			}
			memset(frame_kva(v->vmcs), 0, PAGE_SIZE);
			*(uint32_t *)frame_kva(v->vmcs) = (uint32_t)(vmx_caps.basic & 0x7FFFFFFF);
			unsigned long flags = arch_irq_save();
			(void)vmx_vmclear(frame_pa(v->vmcs)); /* launch state "clear" (25.11.3) */
			arch_irq_restore(flags);
		}
		enum stint_end end = vcpu_run(v);
		if (end == STINT_REQUEUE || end == STINT_BLOCKED)
			runq_push(v);
		else
			vcpu_retire(v, end == STINT_HALTED);
	}
	__atomic_sub_fetch(&cpus_in_loop, 1, __ATOMIC_RELEASE);
}

void sched_run(void)
{
	uint64_t hz = time_cycles_hz();
	slice_cycles = hz ? hz / 1000 * SLICE_MS : 10000000;
	uint64_t now = rdtsc();
	for (unsigned i = 0; i < sched_guest_count; i++) {
		struct guest *g = sched_guests[i];
		g->tsc_start = now;
		g->deadline = g->limit_ms ? now + g->limit_ms * (hz / 1000) : 0;
		g->state = GUEST_RUNNING;
	}
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
	printk("vmm: running %u vCPU(s) of %u guest(s) on %u CPU(s), %u ms slices%s\n",
	       __atomic_load_n(&vcpus_live, __ATOMIC_RELAXED), sched_guest_count, started, SLICE_MS,
	       vmx_caps.preempt_timer ? "" : " (no preemption timer: tick-driven)");
	sched_loop(NULL);
	while (__atomic_load_n(&cpus_in_loop, __ATOMIC_ACQUIRE)) {
		smp_call_poll();
		arch_cpu_relax();
	}
	printk("vmm: all guests ended; at most %u vCPU(s) were in guest mode at once\n",
	       __atomic_load_n(&running_max, __ATOMIC_RELAXED));
}
