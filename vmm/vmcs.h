/*
 * A vCPU's VMCS (vmcs.c): its page, its contents, and which CPU holds it current.
 * sched.c loads it on the CPU that takes the vCPU and unloads it when it gives it back.
 */
#ifndef VMM_VMCS_H
#define VMM_VMCS_H

#include "cpu_model.h"
#include "guest.h"

/* Allocates v's VMCS region (once; VMCLEARed, revision set). Returns 0 or -ENOMEM. */
int vmcs_alloc(struct vcpu *v) __must_check;
/* Frees v's VMCS region (the vCPU will not run again). */
void vmcs_free(struct vcpu *v);
/*
 * Makes v's VMCS current on this CPU; the first time fills it (controls, host state,
 * the start state of the guest's mode, entry registers), after a move to another CPU
 * rewrites the host state. Activates the guest's space (EPTP), then puts the guest's
 * x87/SSE/AVX registers in the CPU (xstate.c). Interrupts off.
 * Returns 0, or -EIO with nothing activated and the VMCS cleared.
 */
int vmcs_load(struct vcpu *v) __must_check;
/* Saves the guest's x87/SSE/AVX registers, deactivates the space and VMCLEARs v's VMCS
 * so any CPU may load it next. Interrupts off. */
void vmcs_unload(struct vcpu *v);
/* Puts v (its VMCS current here) in the state a start-up IPI with this vector leaves
 * an AP in: real mode at CS:IP = vector << 8 : 0. Returns 0, -ENOTSUP (no unrestricted
 * guest) or -EIO. */
int vmcs_start_sipi(struct vcpu *v, unsigned vector) __must_check;
/* Guest CR0/CR4 after a guest MOV to CR: the bits VMX forces are set. */
uint64_t vmcs_guest_cr0(uint64_t val);
uint64_t vmcs_guest_cr4(uint64_t val);
/* The current VMCS's CR0/CR4 as the guest sees them, its EFER and CS.L. */
struct cpu_mode vmcs_mode_read(void);
/* The guest's CR4 alone (its bits from the register, Keel's from the shadow). */
uint64_t vmcs_cr4_read(void);
/* Loads a mode the guest switched to (shadows, registers, EFER, the IA-32e mode guest
 * entry control = EFER.LMA). Returns 0 or -EIO (VMWRITE failed). */
int vmcs_mode_write(const struct cpu_mode *m) __must_check;
/* Writes the four PDPTE guest fields (loaded at entry with EPT on: SDM Vol 3C 27.3.2.4). */
int vmcs_pdptes_write(const uint64_t pdpte[4]) __must_check;
/* The guest's value of an MSR switched through v's MSR lists (STAR, LSTAR, CSTAR,
 * SFMASK, KERNEL_GS_BASE, TSC_AUX when RDTSCP is on), or NULL: read or change it there,
 * the next entry loads it. */
uint64_t *vmcs_msr_slot(struct vcpu *v, uint32_t msr);
/* True if the guest has its own IA32_PAT (VMCS guest PAT, loaded and saved). */
bool vmcs_pat_virtualised(void);

#endif
