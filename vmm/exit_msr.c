/*
 * RDMSR/WRMSR exits (every MSR access exits: no MSR bitmap). One table row per MSR the
 * guest's CPU has, each saying where the value lives: a VMCS guest field (SDM Vol 3C
 * 25.4.1: EFER, FS/GS base, SYSENTER_*, PAT), the vCPU's MSR list (vmcs.c: the syscall
 * MSRs, KERNEL_GS_BASE, TSC_AUX), the TSC offset, or a constant of the model
 * (MISC_ENABLE, MCG_CAP/MCG_STATUS). An MSR not in the table raises #GP, as on a CPU
 * without it; so does a value the CPU would refuse. MSR numbers and bits: SDM Vol 4.
 */
#include "cpu_model.h"
#include "dev/vlapic.h"
#include "exit_handlers.h"
#include "vcpu.h"
#include "vmcs.h"

/* An MSR of the guest's CPU. read/write return 0, or -EINVAL for #GP. */
struct msr_row {
	uint32_t msr;
	uint64_t arg; /* VMCS field (field_* rows) or the value (const_* rows) */
	int (*read)(struct vcpu *v, const struct msr_row *r, uint64_t *val);
	int (*write)(struct vcpu *v, const struct msr_row *r, uint64_t val); /* NULL: #GP */
};

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

static int field_read(struct vcpu *v, const struct msr_row *r, uint64_t *val)
{
	*val = vmread(r->arg);
	return 0;
}

/* FS/GS base and SYSENTER_ESP/EIP hold linear addresses: WRMSR raises #GP for a
 * non-canonical one (Vol 2B WRMSR; Vol 4 table 2-2). */
static int field_write_addr(struct vcpu *v, const struct msr_row *r, uint64_t val)
{
	if (!canonical(val))
		return -EINVAL;
	return vmwrite(r->arg, val) ? -EINVAL : 0;
}

static int field_write_any(struct vcpu *v, const struct msr_row *r, uint64_t val)
{
	return vmwrite(r->arg, val) ? -EINVAL : 0;
}

/* IA32_EFER bits this vCPU may set: SCE, LME, NXE where the CPU has SYSCALL, long
 * mode and NX (CPUID.80000001H:EDX bits 11, 29, 20). */
static uint64_t efer_allowed(void)
{
	uint32_t a, b, c, d;
	cpuid(0x80000001u, 0, &a, &b, &c, &d);
	return ((d >> 11) & 1 ? CPU_EFER_SCE : 0) | ((d >> 29) & 1 ? CPU_EFER_LME : 0) |
	       ((d >> 20) & 1 ? CPU_EFER_NXE : 0);
}

static int efer_write(struct vcpu *v, const struct msr_row *r, uint64_t val)
{
	struct cpu_mode now = vmcs_mode_read(), next;
	if (cpu_model_write_efer(&now, val, efer_allowed(), &next))
		return -EINVAL;
	return vmcs_mode_write(&next) ? -EINVAL : 0;
}

static int pat_write(struct vcpu *v, const struct msr_row *r, uint64_t val)
{
	return cpu_model_pat_check(val) ? -EINVAL : field_write_any(v, r, val);
}

/* The TSC the guest sees is the host's plus the VMCS TSC offset (Vol 3C 26.3 "Changes
 * to Instruction Behavior in VMX Non-Root Operation", RDTSC with "use TSC offsetting"):
 * a write sets the offset so the guest's TSC reads val now. */
static int tsc_read(struct vcpu *v, const struct msr_row *r, uint64_t *val)
{
	*val = rdtsc() + vmread(VMCS_TSC_OFFSET);
	return 0;
}

static int tsc_write(struct vcpu *v, const struct msr_row *r, uint64_t val)
{
	if (!(vmx_caps.proc & PROC_TSC_OFFSET))
		return -EINVAL;
	return vmwrite(VMCS_TSC_OFFSET, val - rdtsc()) ? -EINVAL : 0;
}

static int list_read(struct vcpu *v, const struct msr_row *r, uint64_t *val)
{
	uint64_t *slot = vmcs_msr_slot(v, r->msr);
	if (!slot)
		return -EINVAL; /* TSC_AUX without RDTSCP */
	*val = *slot;
	return 0;
}

/* LSTAR, CSTAR and KERNEL_GS_BASE hold addresses (#GP if non-canonical); SFMASK and
 * TSC_AUX have bits 63:32 reserved; STAR takes any value (Vol 4 table 2-2). */
static int list_write(struct vcpu *v, const struct msr_row *r, uint64_t val)
{
	uint64_t *slot = vmcs_msr_slot(v, r->msr);
	bool addr =
	    r->msr == CPU_MSR_LSTAR || r->msr == CPU_MSR_CSTAR || r->msr == CPU_MSR_KERNEL_GS_BASE;
	bool low32 = r->msr == CPU_MSR_SFMASK || r->msr == CPU_MSR_TSC_AUX;
	if (!slot || (addr && !canonical(val)) || (low32 && (val >> 32)))
		return -EINVAL;
	*slot = val;
	return 0;
}

/* An MSR the model holds constant: reads give r->arg; a write must leave it as it is
 * (read-only bits). IA32_MISC_ENABLE: fast strings on (bit 0), BTS and PEBS unavailable
 * (bits 11, 12). Machine check (Vol 3B 17.3.1): MCG_CAP says no banks and no MCG_CTL
 * (read-only: no write function), MCG_STATUS reads 0 and only 0 may be written. */
#define MISC_ENABLE_VALUE ((1ull << 0) | (1ull << 11) | (1ull << 12))
static int const_read(struct vcpu *v, const struct msr_row *r, uint64_t *val)
{
	*val = r->arg;
	return 0;
}

static int const_write(struct vcpu *v, const struct msr_row *r, uint64_t val)
{
	return val == r->arg ? 0 : -EINVAL;
}

static const struct msr_row msr_table[] = {
	/* sorted by MSR number */
	{ CPU_MSR_TSC, 0, tsc_read, tsc_write },
	{ CPU_MSR_SYSENTER_CS, VMCS_GUEST_SYSENTER_CS, field_read, field_write_any },
	{ CPU_MSR_SYSENTER_ESP, VMCS_GUEST_SYSENTER_ESP, field_read, field_write_addr },
	{ CPU_MSR_SYSENTER_EIP, VMCS_GUEST_SYSENTER_EIP, field_read, field_write_addr },
	{ CPU_MSR_MCG_CAP, 0, const_read, NULL },
	{ CPU_MSR_MCG_STATUS, 0, const_read, const_write },
	{ CPU_MSR_MISC_ENABLE, MISC_ENABLE_VALUE, const_read, const_write },
	{ CPU_MSR_PAT, VMCS_GUEST_PAT, field_read, pat_write },
	{ CPU_MSR_EFER, VMCS_GUEST_EFER, field_read, efer_write },
	{ CPU_MSR_STAR, 0, list_read, list_write },
	{ CPU_MSR_LSTAR, 0, list_read, list_write },
	{ CPU_MSR_CSTAR, 0, list_read, list_write },
	{ CPU_MSR_SFMASK, 0, list_read, list_write },
	{ CPU_MSR_FS_BASE, VMCS_GUEST_FS_BASE, field_read, field_write_addr },
	{ CPU_MSR_GS_BASE, VMCS_GUEST_GS_BASE, field_read, field_write_addr },
	{ CPU_MSR_KERNEL_GS_BASE, 0, list_read, list_write },
	{ CPU_MSR_TSC_AUX, 0, list_read, list_write },
};

/* Binary search: the table is sorted by MSR number. */
static const struct msr_row *msr_find(uint32_t msr)
{
	unsigned lo = 0, hi = ARRAY_SIZE(msr_table);
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (msr_table[mid].msr < msr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == ARRAY_SIZE(msr_table) || msr_table[lo].msr != msr)
		return NULL;
	if (msr == CPU_MSR_PAT && !vmcs_pat_virtualised())
		return NULL; /* a CPU without PAT (CPUID.1:EDX[16] clear too) */
	return &msr_table[lo];
}

/* #GP for a refused access, else past the instruction. */
static enum exit_action msr_done(struct vcpu *v, int err)
{
	if (err)
		vcpu_inject_gp(v);
	else
		vcpu_skip_insn(v);
	return EXIT_RESUME;
}

enum exit_action exit_rdmsr(struct vcpu *v)
{
	uint32_t msr = (uint32_t)v->regs.rcx;
	if (vlapic_msr_claims(msr)) /* IA32_APIC_BASE, x2APIC, TSC_DEADLINE (dev/vlapic.h) */
		return vlapic_rdmsr(v);
	const struct msr_row *r = msr_find(msr);
	uint64_t val = 0;
	int err = r ? r->read(v, r, &val) : -EINVAL;
	if (!err) {
		v->regs.rax = (uint32_t)val;
		v->regs.rdx = val >> 32;
	}
	return msr_done(v, err);
}

enum exit_action exit_wrmsr(struct vcpu *v)
{
	uint32_t msr = (uint32_t)v->regs.rcx;
	uint64_t val = (v->regs.rdx << 32) | (uint32_t)v->regs.rax;
	if (vlapic_msr_claims(msr)) /* IA32_APIC_BASE, x2APIC, TSC_DEADLINE (dev/vlapic.h) */
		return vlapic_wrmsr(v);
	const struct msr_row *r = msr_find(msr);
	int err = r && r->write ? r->write(v, r, val) : -EINVAL;
	return msr_done(v, err);
}
