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

/* Host state: this CPU's control registers and tables (27.2.2, 28.5 "Loading Host State").
 * Per CPU (GS base, TSS, GDT): rewritten whenever a vCPU's VMCS moves to another CPU. */
int vmcs_setup_host(void)
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

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_PG (1ull << 31)

/* CR0 bits VMX forces to 1 (A.7); with unrestricted guest PE and PG are the guest's
 * (26.3.1.1). These bits are host-owned in the CR0 guest/host mask. */
static uint64_t cr0_forced(void)
{
	uint64_t f = vmx_caps.cr0_fixed0;
	return vmx_caps.unrestricted ? f & ~(CR0_PE | CR0_PG) : f;
}

uint64_t vmcs_guest_cr0(uint64_t val)
{
	return (val | cr0_forced()) & vmx_caps.cr0_fixed1;
}

uint64_t vmcs_guest_cr4(uint64_t val)
{
	return (val | vmx_caps.cr4_fixed0) & vmx_caps.cr4_fixed1;
}

static int setup_controls(enum guest_mode mode)
{
	const struct vmx_caps *c = &vmx_caps;
	uint32_t entry = mode == GUEST_MODE_LONG ? c->entry : c->entry & ~ENTRY_IA32E;
	int err = 0;
	err |= vmwrite(VMCS_PIN_CTLS, c->pin);
	err |= vmwrite(VMCS_PROC_CTLS, c->proc);
	err |= vmwrite(VMCS_PROC2_CTLS, c->proc2);
	err |= vmwrite(VMCS_EXIT_CTLS, c->exit);
	err |= vmwrite(VMCS_ENTRY_CTLS, entry);
	err |= vmwrite(VMCS_EXCEPTION_BITMAP, 0);
	err |= vmwrite(VMCS_CR3_TARGET_COUNT, 0);
	err |= vmwrite(VMCS_EXIT_MSR_STORE_COUNT, 0);
	err |= vmwrite(VMCS_EXIT_MSR_LOAD_COUNT, 0);
	err |= vmwrite(VMCS_ENTRY_MSR_LOAD_COUNT, 0);
	err |= vmwrite(VMCS_ENTRY_INTR_INFO, 0);
	err |= vmwrite(VMCS_LINK_POINTER, ~0ull); /* no shadow VMCS (27.3.1.5) */
	/* The guest owns CR0/CR4 except the bits VMX forces; it reads its own values
	 * (shadows). Writes to forced bits exit (exit.c, exit_cr_access). */
	err |= vmwrite(VMCS_CR0_MASK, cr0_forced());
	err |= vmwrite(VMCS_CR4_MASK, c->cr4_fixed0);
	return err ? -EIO : 0;
}

/*
 * Start state of each mode (26.3.1: checks on guest state; 25.4.1 table 25-2: access
 * rights). Long: paging on with Keel's tables, CS 64-bit code (0xA09B: L, P, code
 * execute/read accessed). 32-bit: paging off, flat 4 GiB (0xC09B / 0xC093: G, D/B).
 * Real: CR0.PE = 0 (needs unrestricted guest), 64 KiB segments at base 0 (0x9B /
 * 0x93). TR is a busy TSS (64-bit 0x8B for long mode, 32-bit busy, also 0x8B, for the
 * others: 26.3.1.2), LDTR unusable (bit 16).
 */
struct mode_state {
	uint64_t cr0, cr4, efer;
	uint32_t cs_sel, cs_ar, ds_sel, ds_ar, seg_limit;
};

static const struct mode_state mode_states[] = {
	[GUEST_MODE_LONG] = { CR0_PE | CR0_ET | CR0_NE | CR0_PG, CR4_PAE,
			      (1ull << 8) | (1ull << 10), /* EFER.LME | LMA */
			      GUEST_SEL_CODE64, 0xA09B, GUEST_SEL_DATA, 0xC093, 0xFFFFFFFF },
	[GUEST_MODE_32] = { CR0_PE | CR0_ET | CR0_NE, 0, 0, GUEST_SEL_CODE32, 0xC09B,
			    GUEST_SEL_DATA, 0xC093, 0xFFFFFFFF },
	[GUEST_MODE_REAL] = { CR0_ET | CR0_NE, 0, 0, 0, 0x9B, 0, 0x93, 0xFFFF },
};

static int setup_guest_segments(const struct mode_state *m)
{
	int err = 0;
	for (unsigned i = 0; i < 8; i++) { /* ES CS SS DS FS GS LDTR TR */
		uint32_t ar = m->ds_ar, sel = m->ds_sel, limit = m->seg_limit;
		if (i == 1) {
			ar = m->cs_ar;
			sel = m->cs_sel;
		} else if (i == 6) {
			ar = 1u << 16;
			sel = 0;
			limit = 0;
		} else if (i == 7) {
			ar = 0x8B;
			sel = 0;
			limit = 0x67;
		}
		err |= vmwrite(VMCS_GUEST_ES_SEL + 2 * i, sel);
		err |= vmwrite(VMCS_GUEST_ES_LIMIT + 2 * i, limit);
		err |= vmwrite(VMCS_GUEST_ES_AR + 2 * i, ar);
		err |= vmwrite(VMCS_GUEST_ES_BASE + 2 * i, 0);
	}
	err |= vmwrite(VMCS_GUEST_GDTR_BASE, GUEST_GDT);
	err |= vmwrite(VMCS_GUEST_GDTR_LIMIT, GUEST_GDT_LIMIT);
	err |= vmwrite(VMCS_GUEST_IDTR_BASE, 0); /* no IDT: an exception triple-faults */
	err |= vmwrite(VMCS_GUEST_IDTR_LIMIT, 0);
	return err;
}

int vmcs_setup(struct vcpu *v)
{
	const struct guest *g = v->guest;
	const struct mode_state *m = &mode_states[g->mode];
	uint64_t rsp;
	if (g->mode == GUEST_MODE_REAL)
		rsp = GUEST_REAL_LOAD - v->index * GUEST_REAL_STACK_SIZE;
	else
		rsp = g->mem - v->index * GUEST_STACK_SIZE;
	int err = vmcs_setup_host() | setup_controls(g->mode) | setup_guest_segments(m);
	err |= vmwrite(VMCS_CR0_SHADOW, m->cr0);
	err |= vmwrite(VMCS_GUEST_CR0, vmcs_guest_cr0(m->cr0));
	err |= vmwrite(VMCS_CR4_SHADOW, m->cr4);
	err |= vmwrite(VMCS_GUEST_CR4, vmcs_guest_cr4(m->cr4));
	err |= vmwrite(VMCS_GUEST_CR3, g->mode == GUEST_MODE_LONG ? GUEST_PML4 : 0);
	err |= vmwrite(VMCS_GUEST_EFER, m->efer);
	err |= vmwrite(VMCS_GUEST_DR7, 0x400);
	err |= vmwrite(VMCS_GUEST_RSP, rsp);
	err |= vmwrite(VMCS_GUEST_RIP, g->entry);
	err |= vmwrite(VMCS_GUEST_RFLAGS, 0x2);
	err |= vmwrite(VMCS_GUEST_INTERRUPTIBILITY, 0);
	err |= vmwrite(VMCS_GUEST_ACTIVITY, 0);
	err |= vmwrite(VMCS_GUEST_SYSENTER_CS, 0);
	err |= vmwrite(VMCS_GUEST_SYSENTER_ESP, 0);
	err |= vmwrite(VMCS_GUEST_SYSENTER_EIP, 0);
	/* Fields a zeroed, VMCLEARed region is not promised to hold as 0 (25.11.3). */
	err |= vmwrite(VMCS_GUEST_DEBUGCTL, 0);
	err |= vmwrite(VMCS_GUEST_PENDING_DBG, 0);
	for (unsigned i = 0; i < 4; i++)
		err |= vmwrite(VMCS_GUEST_PDPTE0 + 2 * i, 0);
	memset(&v->regs, 0, sizeof(v->regs));
	v->regs.rdi = g->arg;
	v->regs.rsi = v->index;
	v->regs.rdx = g->vcpu_count;
	return err ? -EIO : 0;
}
