/*
 * Exits about interrupts and events: host interrupts and NMIs arriving in guest mode,
 * triple faults, HLT, the interrupt window, the VMX-preemption timer; and the two
 * things done around every entry: re-delivering an event an exit cut short, and
 * injecting the vCPU's pending events (INIT/SIPI/NMI from other vCPUs, dev/vlapic.c;
 * the interrupt of its virtual timer, dev/timer.c, or of its local APIC, dev/lapic.h).
 * Event injection: SDM Vol 3C 25.8.3, 26.6; interruptibility: 25.4.2 table 25-3.
 */
#include "dev/lapic.h"
#include "dev/pic.h"
#include "dev/pit.h"
#include "dev/timer.h"
#include "dev/vlapic.h"
#include "exit_handlers.h"
#include "vcpu.h"

#define RFLAGS_IF (1ull << 9)

enum exit_action exit_ext_intr(struct vcpu *v)
{
	return EXIT_RESUME; /* the interrupt stays pending and is taken by the host */
}

/* Host NMIs exit here (PIN_NMI; 28.2.2 interruption type 2): the host's NMI handler
 * runs (it stops this CPU if a panic stops all). The exception bitmap is 0 except #BP
 * and #DB while gdb debugs the guest (exit_debug.c). */
enum exit_action exit_exception_nmi(struct vcpu *v)
{
	uint32_t info = (uint32_t)vmread(VMCS_EXIT_INTR_INFO);
	if ((info >> 31) && ((info >> 8) & 7) == 2) {
		__asm__ __volatile__("int $2");
		return EXIT_RESUME;
	}
	if ((info >> 31) && (info & 0xFF) == 3) /* #BP */
		return exit_debug_bp(v);
	if ((info >> 31) && (info & 0xFF) == 1) /* #DB */
		return exit_debug_db(v);
	return guest_kill(v->guest, "unexpected exception exit, interruption info 0x%x", info);
}

enum exit_action exit_triple_fault(struct vcpu *v)
{
	return guest_kill(v->guest, "triple fault at RIP 0x%llx", (unsigned long long)v->rip);
}

/* The earlier of two wake-up times (0: none). */
static uint64_t earlier(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : MIN(a, b);
}

uint64_t vcpu_next_timer(struct vcpu *v)
{
	uint64_t pit = v->index == 0 ? vpit_next_irq(v->guest) : 0;
	return earlier(vtimer_next(v), pit);
}

/* HLT: with interrupts enabled it blocks until a timer fires (its own, its LAPIC's, or
 * on vCPU 0 the PIT's IRQ 0: wake_at), or, when an IPI could wake it (vlapic.c), until
 * another vCPU kicks it; an interrupt already pending wakes it at once. Otherwise
 * nothing can ever wake it, and it stops (sched.c ends the guest once all its vCPUs
 * stopped). */
enum exit_action exit_hlt(struct vcpu *v)
{
	vcpu_skip_insn(v);
	if (!(vmread(VMCS_GUEST_RFLAGS) & RFLAGS_IF))
		return EXIT_HALT;
	/* Clear the kick before looking, so an IPI posted after the look still wakes v. */
	__atomic_store_n(&v->kicked, 0, __ATOMIC_SEQ_CST);
	if (v->irq_pending >= 0 || v->nmi_pending || lapic_pending(v->lapic) >= 0) {
		v->wake_at = 0;
		return EXIT_BLOCK;
	}
	uint64_t timer = vcpu_next_timer(v);
	if (timer)
		v->wake_at = timer;
	else if (vlapic_may_be_woken(v))
		v->wake_at = ~0ull;
	else
		return EXIT_HALT;
	return EXIT_BLOCK;
}

/* Interrupt-window exiting was on because an interrupt waited for RFLAGS.IF: the guest
 * can take it now; vcpu_deliver_events injects it at this entry (28.2, 26.7.5). */
enum exit_action exit_intr_window(struct vcpu *v)
{
	(void)vmwrite(VMCS_PROC_CTLS, vmx_caps.proc);
	return EXIT_RESUME;
}

enum exit_action exit_preempt_timer(struct vcpu *v)
{
	return EXIT_RESUME; /* sched.c checks the slice and the time limit at every exit */
}

/*
 * An exit in the middle of delivering an event (e.g. an EPT violation on the guest
 * stack while pushing an interrupt frame) leaves the event in the IDT-vectoring
 * information field (SDM Vol 3C 28.2.4); it is injected again at the next entry, or it
 * would be lost. Handlers that inject their own event overwrite this one; a triple
 * fault ends the guest anyway.
 */
void vcpu_redeliver(struct vcpu *v)
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

/* Injects an NMI (26.6.1.1 type 2) unless an event goes in already or NMIs are
 * blocked (by an NMI, STI or MOV SS: 26.3.1.5). Without virtual NMIs there is no
 * NMI-window exit: a blocked NMI waits for the next exit. */
static void deliver_nmi(struct vcpu *v)
{
	if ((vmread(VMCS_ENTRY_INTR_INFO) >> 31) || (vmread(VMCS_GUEST_INTERRUPTIBILITY) & 0xB))
		return;
	(void)vmwrite(VMCS_ENTRY_INTR_INFO, 2u | (2u << 8) | (1u << 31));
	v->nmi_pending = false;
}

/* The interrupt to inject next: the virtual timer's, else the APIC's highest pending
 * one above its processor priority (SDM Vol 3A 11.8.3.1), else -1. */
static int next_vector(struct vcpu *v)
{
	return v->irq_pending >= 0 ? v->irq_pending : lapic_pending(v->lapic);
}

static void deliver_irq(struct vcpu *v)
{
	if (v->irq_pending < 0 && lapic_irr_empty(v->lapic))
		return; /* the common case, before every entry */
	int vector = next_vector(v);
	if (vector < 0)
		return;
	/* Deliverable now: no event already going in at this entry (an exception from
	 * this exit, or a re-delivered one), IF = 1, no STI / MOV-SS blocking (25.4.2
	 * table 25-3). Otherwise exit as soon as the guest can take it. */
	bool busy = vmread(VMCS_ENTRY_INTR_INFO) >> 31;
	if (!busy && (vmread(VMCS_GUEST_RFLAGS) & RFLAGS_IF) &&
	    !(vmread(VMCS_GUEST_INTERRUPTIBILITY) & 3)) {
		/* Type 0 external interrupt, valid (25.8.3). */
		(void)vmwrite(VMCS_ENTRY_INTR_INFO, (uint32_t)vector | (1u << 31));
		(void)vmwrite(VMCS_PROC_CTLS, vmx_caps.proc);
		if (v->irq_pending >= 0)
			v->irq_pending = -1;
		else
			lapic_ack(v->lapic, (unsigned)vector); /* IRR -> ISR (11.8.4) */
		v->irqs_injected++;
	} else if (vmx_caps.intr_window) {
		(void)vmwrite(VMCS_PROC_CTLS, vmx_caps.proc | PROC_INTR_WINDOW);
	}
}

enum exit_action vcpu_deliver_events(struct vcpu *v, uint64_t now)
{
	enum exit_action a = vlapic_has_events(v) ? vlapic_take_events(v) : EXIT_RESUME;
	if (a != EXIT_RESUME)
		return a;
	vtimer_poll(v, now);
	vpit_poll(v->guest);
	vpic_poll(v);
	if (v->nmi_pending)
		deliver_nmi(v);
	deliver_irq(v);
	return EXIT_RESUME;
}
