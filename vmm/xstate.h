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
/* Before each entry, interrupts off: makes this CPU's XCR0 the vCPU's. */
void vcpu_xcr0_load(struct vcpu *v);
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
