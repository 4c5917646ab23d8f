/*
 * MOV to CR0/CR4 touching a host-owned bit (the bits VMX forces, owned through the
 * guest/host masks set in vmcs.c). The guest reads back what it wrote (the shadow);
 * the real register keeps what VMX forces. Qualification: SDM Vol 3C 28.2.1 table
 * 28-3 (bits 3:0 CR, 5:4 type, 11:8 register).
 */
#include "exit_handlers.h"
#include "vcpu.h"
#include "vmcs.h"

#define CR0_PG_BIT (1ull << 31)

/*
 * CR4.VMXE (nested VMX) is refused with #GP. Known gap: a write that also turns on PAE
 * paging (32-bit guest) does not load the VMCS PDPTE fields (26.3.1.6); such a write
 * only exits here if it also changes CR0.NE.
 */
enum exit_action exit_cr_access(struct vcpu *v)
{
	uint64_t q = v->exit_qual;
	unsigned cr = q & 15, type = (q >> 4) & 3, reg = (q >> 8) & 15;
	if (type != 0 || (cr != 0 && cr != 4))
		return guest_kill(v->guest,
				  "unsupported control-register access (qual 0x%llx) at "
				  "RIP 0x%llx",
				  (unsigned long long)q, (unsigned long long)v->rip);
	uint64_t val = vcpu_gpr_read(v, reg);
	if (!vcpu_in_64bit_mode(v))
		val = (uint32_t)val;
	/* What the CPU itself refuses with #GP: reserved bits 63:32, CR0.PG without PE,
	 * and CR4.VMXE here (no nested VMX). */
	if ((val >> 32) || (cr == 0 && (val & CR0_PG_BIT) && !(val & 1)) ||
	    (cr == 4 && (val & CR4_VMXE))) {
		vcpu_inject_gp(v);
		return EXIT_RESUME;
	}
	int err =
	    cr == 0 ? vmwrite(VMCS_CR0_SHADOW, val) | vmwrite(VMCS_GUEST_CR0, vmcs_guest_cr0(val))
		    : vmwrite(VMCS_CR4_SHADOW, val) | vmwrite(VMCS_GUEST_CR4, vmcs_guest_cr4(val));
	if (err)
		return guest_kill(v->guest, "VMWRITE failed emulating MOV to CR%u", cr);
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}
