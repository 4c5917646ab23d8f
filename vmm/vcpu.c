/*
 * Register-level helpers for the vCPU being handled (vcpu.h). Uses VMREAD/VMWRITE on the
 * current VMCS only; knows nothing of exits, devices or scheduling.
 */
#include "vcpu.h"

/* The emulated instruction completes: a STI or MOV-SS shadow it sat in ends with it
 * (SDM Vol 3C 25.4.2 table 25-3), as on hardware (e.g. "sti; hlt" then wakes to an
 * interrupt). */
void vcpu_skip_insn(struct vcpu *v)
{
	(void)vmwrite(VMCS_GUEST_RIP, v->rip + v->insn_len);
	uint64_t intr = vmread(VMCS_GUEST_INTERRUPTIBILITY);
	if (intr & 3)
		(void)vmwrite(VMCS_GUEST_INTERRUPTIBILITY, intr & ~3ull);
}

/* VM-entry interruption information (SDM Vol 3C 25.8.3): type 3 = hardware exception.
 * With CR0.PE = 0 (real mode under unrestricted guest) no error code may be delivered
 * (26.2.1.3): the exception goes without it, as on hardware. */
void vcpu_inject(struct vcpu *v, unsigned vector, bool has_error, uint32_t error)
{
	if (!(vmread(VMCS_GUEST_CR0) & 1))
		has_error = false;
	uint32_t info = vector | (3u << 8) | (has_error ? 1u << 11 : 0) | (1u << 31);
	(void)vmwrite(VMCS_ENTRY_INTR_INFO, info);
	if (has_error)
		(void)vmwrite(VMCS_ENTRY_EXC_ERROR, error);
}

void vcpu_inject_gp(struct vcpu *v)
{
	vcpu_inject(v, 13, true, 0);
}

/* Register numbers of exit qualifications: 28.2.1 table 28-3. RSP lives in the VMCS. */
static uint64_t *vcpu_gpr(struct vcpu *v, unsigned n)
{
	struct vcpu_regs *r = &v->regs;
	uint64_t *const map[16] = { &r->rax, &r->rcx, &r->rdx, &r->rbx, NULL,	 &r->rbp,
				    &r->rsi, &r->rdi, &r->r8,  &r->r9,	&r->r10, &r->r11,
				    &r->r12, &r->r13, &r->r14, &r->r15 };
	return map[n & 15];
}

uint64_t vcpu_gpr_read(struct vcpu *v, unsigned n)
{
	return (n & 15) == 4 ? vmread(VMCS_GUEST_RSP) : *vcpu_gpr(v, n);
}
