/*
 * VMCS set-up for one vCPU (host state of the running CPU, 64-bit long-mode guest
 * state, the adjusted controls, EPT pointer and VPID) and the words for VMX failures.
 * Checks on guest state: SDM Vol 3C 27.3 "Checking and Loading Guest State"; host
 * state: 27.2.2/27.2.3; segment access rights format: 25.4.1 table 25-2.
 */
#include <arch/cpu.h>
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/string.h>

#include "guest.h"

/* VM-instruction error numbers (SDM Vol 3C 31.4). */
static const char *const insn_errors[] = {
	[1] = "VMCALL executed in VMX root operation",
	[2] = "VMCLEAR with invalid physical address",
	[3] = "VMCLEAR with VMXON pointer",
	[4] = "VMLAUNCH with non-clear VMCS",
	[5] = "VMRESUME with non-launched VMCS",
	[6] = "VMRESUME after VMXOFF",
	[7] = "VM entry with invalid control field(s)",
	[8] = "VM entry with invalid host-state field(s)",
	[9] = "VMPTRLD with invalid physical address",
	[10] = "VMPTRLD with VMXON pointer",
	[11] = "VMPTRLD with incorrect VMCS revision identifier",
	[12] = "VMREAD/VMWRITE from/to unsupported VMCS component",
	[13] = "VMWRITE to read-only VMCS component",
	[15] = "VMXON executed in VMX root operation",
	[16] = "VM entry with invalid executive-VMCS pointer",
	[17] = "VM entry with non-launched executive VMCS",
	[18] = "VM entry with executive-VMCS pointer not VMXON pointer",
	[19] = "VMCALL with non-clear VMCS",
	[20] = "VMCALL with invalid VM-exit control fields",
	[22] = "VMCALL with incorrect MSEG revision identifier",
	[23] = "VMXOFF under dual-monitor treatment of SMIs and SMM",
	[24] = "VMCALL with invalid SMM-monitor features",
	[25] = "VM entry with invalid VM-execution control fields in executive VMCS",
	[26] = "VM entry with events blocked by MOV SS",
	[28] = "invalid operand to INVEPT/INVVPID",
};

const char *vmx_insn_error_str(uint32_t err)
{
	if (err < sizeof(insn_errors) / sizeof(insn_errors[0]) && insn_errors[err])
		return insn_errors[err];
	return "unknown VM-instruction error";
}

/* Basic exit reasons (SDM Vol 3D appendix C). */
static const char *const exit_names[EXIT_REASON_COUNT] = {
	[0] = "exception/NMI",
	[1] = "external interrupt",
	[2] = "triple fault",
	[3] = "INIT",
	[4] = "SIPI",
	[5] = "I/O SMI",
	[6] = "other SMI",
	[7] = "interrupt window",
	[8] = "NMI window",
	[9] = "task switch",
	[10] = "CPUID",
	[11] = "GETSEC",
	[12] = "HLT",
	[13] = "INVD",
	[14] = "INVLPG",
	[15] = "RDPMC",
	[16] = "RDTSC",
	[17] = "RSM",
	[18] = "VMCALL",
	[19] = "VMCLEAR",
	[20] = "VMLAUNCH",
	[21] = "VMPTRLD",
	[22] = "VMPTRST",
	[23] = "VMREAD",
	[24] = "VMRESUME",
	[25] = "VMWRITE",
	[26] = "VMXOFF",
	[27] = "VMXON",
	[28] = "CR access",
	[29] = "MOV DR",
	[30] = "I/O instruction",
	[31] = "RDMSR",
	[32] = "WRMSR",
	[33] = "entry failure: invalid guest state",
	[34] = "entry failure: MSR loading",
	[36] = "MWAIT",
	[37] = "monitor trap flag",
	[39] = "MONITOR",
	[40] = "PAUSE",
	[41] = "entry failure: machine check",
	[43] = "TPR below threshold",
	[44] = "APIC access",
	[45] = "virtualized EOI",
	[46] = "GDTR/IDTR access",
	[47] = "LDTR/TR access",
	[48] = "EPT violation",
	[49] = "EPT misconfiguration",
	[50] = "INVEPT",
	[51] = "RDTSCP",
	[52] = "VMX-preemption timer",
	[53] = "INVVPID",
	[54] = "WBINVD",
	[55] = "XSETBV",
	[56] = "APIC write",
	[57] = "RDRAND",
	[58] = "INVPCID",
	[59] = "VMFUNC",
	[60] = "ENCLS",
	[61] = "RDSEED",
	[62] = "page-modification log full",
	[63] = "XSAVES",
	[64] = "XRSTORS",
	[66] = "SPP-related event",
	[67] = "UMWAIT",
	[68] = "TPAUSE",
	[69] = "LOADIWKEY",
};

const char *vmx_exit_reason_str(uint32_t reason)
{
	if (reason < EXIT_REASON_COUNT && exit_names[reason])
		return exit_names[reason];
	return "unknown exit reason";
}

uint64_t vmcs_eptp(struct vm_space *s)
{
	return ept_eptp(vm_space_root_pa(s));
}

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __packed;

/* Host state: this CPU's control registers and tables (27.2.2, 28.5 "Loading Host State"). */
static int setup_host(void)
{
	struct cpu *c = this_cpu();
	struct desc_ptr idt;
	__asm__ __volatile__("sidt %0" : "=m"(idt));
	int err = 0;
	err |= vmwrite(VMCS_HOST_CR0, read_cr0());
	err |= vmwrite(VMCS_HOST_CR3, read_cr3());
	err |= vmwrite(VMCS_HOST_CR4, read_cr4());
	err |= vmwrite(VMCS_HOST_CS_SEL, SEL_KCODE);
	err |= vmwrite(VMCS_HOST_SS_SEL, SEL_KDATA);
	err |= vmwrite(VMCS_HOST_DS_SEL, SEL_KDATA);
	err |= vmwrite(VMCS_HOST_ES_SEL, SEL_KDATA);
	err |= vmwrite(VMCS_HOST_FS_SEL, 0);
	err |= vmwrite(VMCS_HOST_GS_SEL, 0);
	err |= vmwrite(VMCS_HOST_TR_SEL, SEL_TSS);
	err |= vmwrite(VMCS_HOST_FS_BASE, 0);
	err |= vmwrite(VMCS_HOST_GS_BASE, (uint64_t)c);
	err |= vmwrite(VMCS_HOST_TR_BASE, (uint64_t)&c->tss);
	err |= vmwrite(VMCS_HOST_GDTR_BASE, (uint64_t)c->gdt);
	err |= vmwrite(VMCS_HOST_IDTR_BASE, idt.base);
	err |= vmwrite(VMCS_HOST_SYSENTER_CS, 0);
	err |= vmwrite(VMCS_HOST_SYSENTER_ESP, 0);
	err |= vmwrite(VMCS_HOST_SYSENTER_EIP, 0);
	err |= vmwrite(VMCS_HOST_EFER, rdmsr(MSR_EFER));
	err |= vmwrite(VMCS_HOST_RIP, (uint64_t)vmx_exit_stub);
	return err ? -EIO : 0; /* HOST_RSP: written by vmx_enter before each entry */
}

static int setup_controls(void)
{
	const struct vmx_caps *c = &vmx_caps;
	int err = 0;
	err |= vmwrite(VMCS_PIN_CTLS, c->pin);
	err |= vmwrite(VMCS_PROC_CTLS, c->proc);
	err |= vmwrite(VMCS_PROC2_CTLS, c->proc2);
	err |= vmwrite(VMCS_EXIT_CTLS, c->exit);
	err |= vmwrite(VMCS_ENTRY_CTLS, c->entry);
	err |= vmwrite(VMCS_EXCEPTION_BITMAP, 0);
	err |= vmwrite(VMCS_CR3_TARGET_COUNT, 0);
	err |= vmwrite(VMCS_EXIT_MSR_STORE_COUNT, 0);
	err |= vmwrite(VMCS_EXIT_MSR_LOAD_COUNT, 0);
	err |= vmwrite(VMCS_ENTRY_MSR_LOAD_COUNT, 0);
	err |= vmwrite(VMCS_ENTRY_INTR_INFO, 0);
	err |= vmwrite(VMCS_LINK_POINTER, ~0ull); /* no shadow VMCS (27.3.1.5) */
	/* The guest owns CR0/CR4 except the bits VMX forces; it reads its own values. */
	err |= vmwrite(VMCS_CR0_MASK, c->cr0_fixed0 & ~(1ull << 31 | 1ull << 0));
	err |= vmwrite(VMCS_CR4_MASK, CR4_VMXE);
	err |= vmwrite(VMCS_CR4_SHADOW, 0);
	return err ? -EIO : 0;
}

/*
 * Guest segments for 64-bit mode: CS 64-bit code (access 0xA09B: L, present,
 * execute/read accessed), data 0xC093, TR busy 64-bit TSS 0x8B, LDTR unusable
 * (bit 16). Selectors index the GDT Keel writes (guest.c): 0x08 code, 0x10 data.
 */
static int setup_guest_segments(uint64_t gdt_gpa)
{
	int err = 0;
	for (unsigned i = 0; i < 8; i++) {
		uint32_t ar = 0xC093, sel = 0x10, limit = 0xFFFFFFFF;
		if (i == 1) { /* CS */
			ar = 0xA09B;
			sel = 0x08;
		} else if (i == 6) { /* LDTR */
			ar = 1u << 16;
			sel = 0;
			limit = 0;
		} else if (i == 7) { /* TR */
			ar = 0x8B;
			sel = 0;
			limit = 0x67;
		}
		err |= vmwrite(VMCS_GUEST_ES_SEL + 2 * i, sel);
		err |= vmwrite(VMCS_GUEST_ES_LIMIT + 2 * i, limit);
		err |= vmwrite(VMCS_GUEST_ES_AR + 2 * i, ar);
		err |= vmwrite(VMCS_GUEST_ES_BASE + 2 * i, 0);
	}
	err |= vmwrite(VMCS_GUEST_GDTR_BASE, gdt_gpa);
	err |= vmwrite(VMCS_GUEST_GDTR_LIMIT, 3 * 8 - 1);
	err |= vmwrite(VMCS_GUEST_IDTR_BASE, 0);
	err |= vmwrite(VMCS_GUEST_IDTR_LIMIT, 0);
	return err;
}

int vmcs_setup(struct vcpu *v, uint64_t guest_cr3, uint64_t gdt_gpa, uint64_t rsp)
{
	const struct vmx_caps *c = &vmx_caps;
	/* CR0: PE, PG, NE, ET, plus what VMX fixes to 1 (A.7); CR4: PAE and VMXE (A.8). */
	uint64_t cr0 = (c->cr0_fixed0 | 0x80000031ull) & c->cr0_fixed1;
	uint64_t cr4 = (c->cr4_fixed0 | CR4_PAE) & c->cr4_fixed1;
	int err = setup_host() | setup_controls() | setup_guest_segments(gdt_gpa);
	err |= vmwrite(VMCS_CR0_SHADOW, cr0);
	err |= vmwrite(VMCS_GUEST_CR0, cr0);
	err |= vmwrite(VMCS_GUEST_CR3, guest_cr3);
	err |= vmwrite(VMCS_GUEST_CR4, cr4);
	err |= vmwrite(VMCS_GUEST_EFER, (1ull << 8) | (1ull << 10)); /* LME | LMA */
	err |= vmwrite(VMCS_GUEST_DR7, 0x400);
	err |= vmwrite(VMCS_GUEST_RSP, rsp);
	err |= vmwrite(VMCS_GUEST_RIP, v->guest->entry_rip);
	err |= vmwrite(VMCS_GUEST_RFLAGS, 0x2);
	err |= vmwrite(VMCS_GUEST_INTERRUPTIBILITY, 0);
	err |= vmwrite(VMCS_GUEST_ACTIVITY, 0);
	err |= vmwrite(VMCS_GUEST_SYSENTER_CS, 0);
	err |= vmwrite(VMCS_GUEST_SYSENTER_ESP, 0);
	err |= vmwrite(VMCS_GUEST_SYSENTER_EIP, 0);
	if (c->preempt_timer)
		err |= vmwrite(VMCS_PREEMPT_TIMER, 0xFFFFFFFF);
	return err ? -EIO : 0;
}
