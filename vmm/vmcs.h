/*
 * A vCPU's VMCS (vmcs.c): its page, its contents, and which CPU holds it current.
 * sched.c loads it on the CPU that takes the vCPU and unloads it when it gives it back.
 */
#ifndef VMM_VMCS_H
#define VMM_VMCS_H

#include "guest.h"

/* Allocates v's VMCS region (once; VMCLEARed, revision set). Returns 0 or -ENOMEM. */
int vmcs_alloc(struct vcpu *v) __must_check;
/* Frees v's VMCS region (the vCPU will not run again). */
void vmcs_free(struct vcpu *v);
/*
 * Makes v's VMCS current on this CPU; the first time fills it (controls, host state,
 * the start state of the guest's mode, entry registers), after a move to another CPU
 * rewrites the host state. Activates the guest's space (EPTP) last. Interrupts off.
 * Returns 0, or -EIO with nothing activated and the VMCS cleared.
 */
int vmcs_load(struct vcpu *v) __must_check;
/* Deactivates the space and VMCLEARs v's VMCS so any CPU may load it next. Interrupts
 * off. */
void vmcs_unload(struct vcpu *v);
/* Puts v (its VMCS current here) in the state a start-up IPI with this vector leaves
 * an AP in: real mode at CS:IP = vector << 8 : 0. Returns 0, -ENOTSUP (no unrestricted
 * guest) or -EIO. */
int vmcs_start_sipi(struct vcpu *v, unsigned vector) __must_check;
/* Guest CR0/CR4 after a guest MOV to CR: the bits VMX forces are set. */
uint64_t vmcs_guest_cr0(uint64_t val);
uint64_t vmcs_guest_cr4(uint64_t val);

#endif
