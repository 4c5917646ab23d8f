/*
 * The virtual timer: one one-shot timer per vCPU, programmed by KEEL_HC_TIMER_SET (delay,
 * vector). When it expires its vector becomes the vCPU's pending interrupt, which
 * exit_irq.c injects as soon as the guest can take it. Owns vcpu.timer_deadline and
 * vcpu.timer_vector ([o]: only the CPU running the vCPU).
 */
#ifndef VMM_DEV_TIMER_H
#define VMM_DEV_TIMER_H

#include "../guest.h"

/* Arms (delay_us > 0) or cancels (0) v's timer. Returns 0, or -EINVAL for a vector
 * outside 32..255 or a delay over 60 s. */
int64_t vtimer_set(struct vcpu *v, uint64_t delay_us, uint64_t vector);
/* At TSC now: an expired timer becomes the pending interrupt (if none is pending). */
void vtimer_poll(struct vcpu *v, uint64_t now);
/* TSC of the next expiry, or 0 when the timer is off. */
uint64_t vtimer_deadline(const struct vcpu *v);

#endif
