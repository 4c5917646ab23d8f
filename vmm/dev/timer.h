/*
 * The vCPU's timers: the virtual timer, one one-shot timer per vCPU programmed by
 * KEEL_HC_TIMER_SET (delay, vector), and the local APIC's timer (dev/lapic.h). When
 * the virtual timer expires its vector becomes the vCPU's pending interrupt; when the
 * APIC's does, its LVT vector goes into the APIC's IRR. exit_irq.c injects both as
 * soon as the guest can take them; sched.c arms the VMX-preemption timer for the
 * next expiry, so the guest exits then. Owns vcpu.timer_deadline and
 * vcpu.timer_vector ([o]: only the CPU running the vCPU).
 */
#ifndef VMM_DEV_TIMER_H
#define VMM_DEV_TIMER_H

#include "../guest.h"

/* Arms (delay_us > 0) or cancels (0) v's timer. Returns 0, or -EINVAL for a vector
 * outside 32..255 or a delay over 60 s. */
int64_t vtimer_set(struct vcpu *v, uint64_t delay_us, uint64_t vector);
/* At TSC now: an expired virtual timer becomes the pending interrupt (if none is
 * pending); an expired APIC timer sets its vector in the APIC's IRR. */
void vtimer_poll(struct vcpu *v, uint64_t now);
/* TSC of the next expiry of either timer, or 0 when none is armed (each counts only
 * while its last interrupt is not waiting for injection). */
uint64_t vtimer_next(const struct vcpu *v);

#endif
