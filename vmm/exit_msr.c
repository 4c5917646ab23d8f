/*
 * RDMSR/WRMSR exits: a small allow-list of MSRs backed by VMCS guest-state fields
 * (SDM Vol 3C 25.4.1); anything else gets #GP, as on a CPU without that MSR.
 */
#include "dev/vlapic.h"
#include "exit_handlers.h"
#include "vcpu.h"

/* The VMCS field holding an MSR the guest may use, or -1. */
static int msr_field(uint32_t msr)
{
	switch (msr) {
	case MSR_EFER:
		return VMCS_GUEST_EFER;
	case MSR_FS_BASE:
		return VMCS_GUEST_FS_BASE;
	case MSR_GS_BASE:
		return VMCS_GUEST_GS_BASE;
	}
	return -1;
}

enum exit_action exit_rdmsr(struct vcpu *v)
{
	if (vlapic_msr_claims((uint32_t)v->regs.rcx)) /* the local APIC's (dev/vlapic.h) */
		return vlapic_rdmsr(v);
	int f = msr_field((uint32_t)v->regs.rcx);
	if (f < 0) {
		vcpu_inject_gp(v);
		return EXIT_RESUME;
	}
	uint64_t val = vmread((uint64_t)f);
	v->regs.rax = (uint32_t)val;
	v->regs.rdx = val >> 32;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}

/* EFER: only NXE may change; LME/LMA keep their start values (a guest-made switch to
 * long mode would need the IA-32e entry control toggled: not supported yet). FS/GS
 * base must be canonical. */
static bool wrmsr_allowed(uint32_t msr, uint64_t val)
{
	if (msr == MSR_EFER)
		return (val & ~EFER_NXE) == (vmread(VMCS_GUEST_EFER) & ~EFER_NXE);
	return (uint64_t)((int64_t)(val << 16) >> 16) == val;
}

enum exit_action exit_wrmsr(struct vcpu *v)
{
	uint32_t msr = (uint32_t)v->regs.rcx;
	uint64_t val = (v->regs.rdx << 32) | (uint32_t)v->regs.rax;
	if (vlapic_msr_claims(msr)) /* the local APIC's (dev/vlapic.h) */
		return vlapic_wrmsr(v);
	int f = msr_field(msr);
	if (f < 0 || !wrmsr_allowed(msr, val)) {
		vcpu_inject_gp(v);
		return EXIT_RESUME;
	}
	(void)vmwrite((uint64_t)f, val);
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}
