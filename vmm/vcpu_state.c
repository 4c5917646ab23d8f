/*
 * The guest-state area of the current VMCS as a struct (vcpu_state.h). Field
 * encodings: SDM Vol 3D appendix B; the segment fields are laid out ES, CS, SS, DS, FS,
 * GS, LDTR, TR, 2 apart in each group (B.1.2, B.3.3, B.4.3).
 */
#include <arch/vmcs.h>

#include "vcpu_state.h"

void vcpu_state_read(struct vcpu_state *s)
{
	s->rip = vmread(VMCS_GUEST_RIP);
	s->rsp = vmread(VMCS_GUEST_RSP);
	s->rflags = vmread(VMCS_GUEST_RFLAGS);
	s->cr0 = vmread(VMCS_GUEST_CR0);
	s->cr3 = vmread(VMCS_GUEST_CR3);
	s->cr4 = vmread(VMCS_GUEST_CR4);
	s->efer = vmread(VMCS_GUEST_EFER);
	s->dr7 = vmread(VMCS_GUEST_DR7);
	for (unsigned i = 0; i < VSEG_COUNT; i++) {
		s->seg[i].sel = (uint16_t)vmread(VMCS_GUEST_ES_SEL + 2 * i);
		s->seg[i].limit = (uint32_t)vmread(VMCS_GUEST_ES_LIMIT + 2 * i);
		s->seg[i].ar = (uint32_t)vmread(VMCS_GUEST_ES_AR + 2 * i);
		s->seg[i].base = vmread(VMCS_GUEST_ES_BASE + 2 * i);
	}
	s->gdtr_base = vmread(VMCS_GUEST_GDTR_BASE);
	s->idtr_base = vmread(VMCS_GUEST_IDTR_BASE);
	s->gdtr_limit = (uint32_t)vmread(VMCS_GUEST_GDTR_LIMIT);
	s->idtr_limit = (uint32_t)vmread(VMCS_GUEST_IDTR_LIMIT);
	s->interruptibility = (uint32_t)vmread(VMCS_GUEST_INTERRUPTIBILITY);
	s->activity = (uint32_t)vmread(VMCS_GUEST_ACTIVITY);
	s->pending_dbg = vmread(VMCS_GUEST_PENDING_DBG);
}

/* Only fields whose every value gdb can produce is a valid guest state are written:
 * a selector change leaves base, limit and rights alone (as a debugger's "set $cs"
 * on a stopped CPU would on hardware, until the next load). RFLAGS bit 1 stays set
 * (26.3.1.4). */
int vcpu_state_write_back(const struct vcpu_state *s)
{
	int err = vmwrite(VMCS_GUEST_RIP, s->rip);
	err |= vmwrite(VMCS_GUEST_RSP, s->rsp);
	err |= vmwrite(VMCS_GUEST_RFLAGS, s->rflags | 2);
	for (unsigned i = VSEG_ES; i <= VSEG_GS; i++)
		err |= vmwrite(VMCS_GUEST_ES_SEL + 2 * i, s->seg[i].sel);
	err |= vmwrite(VMCS_GUEST_FS_BASE, s->seg[VSEG_FS].base);
	err |= vmwrite(VMCS_GUEST_GS_BASE, s->seg[VSEG_GS].base);
	return err ? -EIO : 0;
}

unsigned vcpu_state_width(const struct vcpu_state *s)
{
	uint32_t cs = s->seg[VSEG_CS].ar;
	if (!(s->cr0 & CR0_PE) || (s->rflags & RFLAGS_VM))
		return 16;
	if ((s->efer & EFER_LMA) && (cs & SEG_AR_L))
		return 64;
	return (cs & SEG_AR_DB) ? 32 : 16;
}

bool vcpu_state_paging(const struct vcpu_state *s)
{
	return (s->cr0 & CR0_PG) != 0;
}

/* 25.4.1 and Vol 3A 2.5 / 4.1: CR0.PE, RFLAGS.VM, EFER.LMA with CS.L, CS.D; paging
 * from CR0.PG, CR4.PAE and EFER.LMA. */
const char *vcpu_state_mode_words(const struct vcpu_state *s)
{
	if (!(s->cr0 & CR0_PE))
		return "real mode";
	if (s->rflags & RFLAGS_VM)
		return "virtual-8086 mode";
	if (s->efer & EFER_LMA)
		return (s->seg[VSEG_CS].ar & SEG_AR_L) ? "64-bit long mode, 4-level paging"
						       : "compatibility mode, 4-level paging";
	bool d = s->seg[VSEG_CS].ar & SEG_AR_DB;
	if (!(s->cr0 & CR0_PG))
		return d ? "32-bit protected mode, paging off"
			 : "16-bit protected mode, paging off";
	if (s->cr4 & CR4_PAE)
		return d ? "32-bit protected mode, PAE paging"
			 : "16-bit protected mode, PAE paging";
	return d ? "32-bit protected mode, 32-bit paging" : "16-bit protected mode, 32-bit paging";
}
