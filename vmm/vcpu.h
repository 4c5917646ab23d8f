/*
 * The state of the vCPU whose exit is being handled, as exit handlers, hypercalls and
 * devices need it: its general registers by number, its operating mode, advancing RIP
 * past the exiting instruction and injecting a hardware exception. Acts on the current
 * VMCS (the vCPU's, on the CPU handling the exit).
 */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include "guest.h"

/* Advances the guest RIP past the exiting instruction. */
void vcpu_skip_insn(struct vcpu *v);
/* Injects a hardware exception (vector, optional error code) at the next entry. */
void vcpu_inject(struct vcpu *v, unsigned vector, bool has_error, uint32_t error);
/* #GP(0), the answer to most things a guest may not do. */
void vcpu_inject_gp(struct vcpu *v);
/* True if the vCPU runs 64-bit code now (CS.L, SDM Vol 3C 25.4.1 table 25-2): hypercall
 * arguments are 64-bit. Inline: every VMCALL asks. */
static inline bool vcpu_in_64bit_mode(struct vcpu *v)
{
	(void)v;
	return (vmread(VMCS_GUEST_CS_AR) >> 13) & 1;
}
/* The value of general register n (exit-qualification numbering: 0 rax, 1 rcx, 2 rdx,
 * 3 rbx, 4 rsp (read from the VMCS), 5 rbp, 6 rsi, 7 rdi, 8-15 r8-r15). */
uint64_t vcpu_gpr_read(struct vcpu *v, unsigned n);

#endif
