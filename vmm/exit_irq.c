/*
 * Exits about interrupts and events: host interrupts and NMIs arriving in guest mode,
 * triple faults, HLT, the interrupt window, the VMX-preemption timer; and the two
 * things done around every entry: re-delivering an event an exit cut short, and
 * injecting the vCPU's pending interrupt (from its virtual timer, dev/timer.c).
 * Event injection: SDM Vol 3C 25.8.3, 26.6; interruptibility: 25.4.2 table 25-3.
 */
#include "dev/pic.h"
#include "dev/pit.h"
#include "dev/timer.h"
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

/* HLT: with interrupts enabled and the virtual timer armed, the PIT's IRQ 0 coming (on
 * vCPU 0) or an interrupt pending, the vCPU blocks until then; otherwise nothing can
 * ever wake it, and it stops (sched.c ends the guest once all its vCPUs stopped). */
enum exit_action exit_hlt(struct vcpu *v)
{
	uint64_t pit = v->index == 0 ? vpit_next_irq(v->guest) : 0;
	uint64_t when = earlier(vtimer_deadline(v), pit);
	bool can_wake = (vmread(VMCS_GUEST_RFLAGS) & RFLAGS_IF) && (when || v->irq_pending >= 0);
	vcpu_skip_insn(v);
	if (!can_wake)
		return EXIT_HALT;
	v->wake_at = v->irq_pending >= 0 ? 0 : when;
	return EXIT_BLOCK;
}

/* Interrupt-window exiting was on because an interrupt waited for RFLAGS.IF: the guest
 * can take it now; vcpu_deliver_irq injects it at this entry (28.2, 26.7.5). */
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

void vcpu_deliver_irq(struct vcpu *v, uint64_t now)
{
	vtimer_poll(v, now);
	vpit_poll(v->guest);
	vpic_poll(v);
	if (v->irq_pending < 0)
		return;
	/* Deliverable now: no event already going in at this entry (an exception from
	 * this exit, or a re-delivered one), IF = 1, no STI / MOV-SS blocking (25.4.2
	 * table 25-3). Otherwise exit as soon as the guest can take it. */
	bool busy = vmread(VMCS_ENTRY_INTR_INFO) >> 31;
	if (!busy && (vmread(VMCS_GUEST_RFLAGS) & RFLAGS_IF) &&
	    !(vmread(VMCS_GUEST_INTERRUPTIBILITY) & 3)) {
		/* Type 0 external interrupt, valid (25.8.3). */
		(void)vmwrite(VMCS_ENTRY_INTR_INFO, (uint32_t)v->irq_pending | (1u << 31));
		(void)vmwrite(VMCS_PROC_CTLS, vmx_caps.proc);
		v->irq_pending = -1;
		v->irqs_injected++;
	} else if (vmx_caps.intr_window) {
		(void)vmwrite(VMCS_PROC_CTLS, vmx_caps.proc | PROC_INTR_WINDOW);
	}
}
