/*
 * The guest's extended state on the CPU (xstate.c): its XCR0, loaded before each entry,
 * and its x87/SSE/AVX registers, which live in the CPU while its VMCS is current there
 * and in its save area otherwise.
 */
#ifndef VMM_XSTATE_H
#define VMM_XSTATE_H

#include "guest.h"

/* XCR0 components a guest may enable (0: no XSAVE). */
uint64_t vcpu_xcr0_supported(void);
/* Set once a guest loads an XCR0 other than the reset value (until then every CPU
 * keeps the reset value and entries have nothing to switch). [a] */
extern bool xstate_xcr0_ever_set;
/* Makes this CPU's XCR0 the vCPU's. Interrupts off. */
void vcpu_xcr0_switch(struct vcpu *v);
/* Before each entry, interrupts off: makes this CPU's XCR0 the vCPU's (one load while
 * no guest changed its XCR0). */
static inline void vcpu_xcr0_load(struct vcpu *v)
{
	if (__atomic_load_n(&xstate_xcr0_ever_set, __ATOMIC_RELAXED))
		vcpu_xcr0_switch(v);
}
/* A guest loaded val into its XCR0 (exit_xsetbv.c): entries must now switch XCR0. */
void xstate_note_xcr0(uint64_t val);
/* Allocates v's save area, in the reset state (once). Returns 0 or -ENOMEM. */
int vcpu_fpu_alloc(struct vcpu *v) __must_check;
void vcpu_fpu_free(struct vcpu *v);
/* Interrupts off, v's VMCS current here: the registers go to v's area (its VMCS leaves
 * this CPU), or come back from it (its VMCS arrived). */
void vcpu_fpu_save(struct vcpu *v);
void vcpu_fpu_restore(struct vcpu *v);

#endif
