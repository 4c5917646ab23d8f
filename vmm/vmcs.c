/*
 * A vCPU's VMCS: allocating it, filling it (the adjusted controls, the host state of
 * the running CPU, the start state of the guest's mode: long, 32-bit or real), and
 * moving it between CPUs (VMCLEAR on the CPU it leaves, VMPTRLD and new host state on
 * the next). Checks on guest state: SDM Vol 3C 27.3 "Checking and Loading Guest State";
 * host state: 27.2.2/27.2.3; segment access rights format: 25.4.1 table 25-2; a VMCS
 * is current on at most one CPU: 25.1, 25.11.1.
 */
#include <arch/cpu.h>
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/smp.h>
#include <keel/string.h>

#include "layout.h"
#include "vmcs.h"

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __packed;

/* Host state: this CPU's control registers and tables (27.2.2, 28.5 "Loading Host State").
 * Per CPU (GS base, TSS, GDT): rewritten whenever a vCPU's VMCS moves to another CPU. */
static int vmcs_setup_host(void)
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
	 * (shadows). Writes to forced bits exit (exit_cr.c). */
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

/* Control registers, stack, entry point and the event state a vCPU starts with. */
static int setup_start_regs(const struct mode_state *m, uint64_t cr3, uint64_t rsp, uint64_t rip)
{
	int err = vmwrite(VMCS_CR0_SHADOW, m->cr0);
	err |= vmwrite(VMCS_GUEST_CR0, vmcs_guest_cr0(m->cr0));
	err |= vmwrite(VMCS_CR4_SHADOW, m->cr4);
	err |= vmwrite(VMCS_GUEST_CR4, vmcs_guest_cr4(m->cr4));
	err |= vmwrite(VMCS_GUEST_CR3, cr3);
	err |= vmwrite(VMCS_GUEST_EFER, m->efer);
	err |= vmwrite(VMCS_GUEST_DR7, 0x400);
	err |= vmwrite(VMCS_GUEST_RSP, rsp);
	err |= vmwrite(VMCS_GUEST_RIP, rip);
	err |= vmwrite(VMCS_GUEST_RFLAGS, 0x2);
	err |= vmwrite(VMCS_GUEST_INTERRUPTIBILITY, 0);
	err |= vmwrite(VMCS_GUEST_ACTIVITY, 0);
	return err;
}

static int vmcs_setup(struct vcpu *v)
{
	const struct guest *g = v->guest;
	const struct mode_state *m = &mode_states[g->mode];
	uint64_t rsp;
	if (g->mode == GUEST_MODE_REAL)
		rsp = GUEST_REAL_LOAD - v->index * GUEST_REAL_STACK_SIZE;
	else
		rsp = g->mem - v->index * GUEST_STACK_SIZE;
	int err = vmcs_setup_host() | setup_controls(g->mode) | setup_guest_segments(m);
	err |= setup_start_regs(m, g->mode == GUEST_MODE_LONG ? GUEST_PML4 : 0, rsp, g->entry);
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

/*
 * A start-up IPI's state (SDM Vol 3A 9.1.1 table 9-1, the INIT state, with CS:IP =
 * VV00:0000 from the SIPI vector VV, 9.4.3): real mode, CS base vector << 12, the other
 * segments 0 with 64 KiB limits, GDTR and IDTR base 0 limit 0xFFFF, paging off, EFER 0
 * (so the IA-32e mode entry control off: 26.2.1.3), registers 0, no event pending.
 * Needs unrestricted guest (26.3.1.1). On the current VMCS (v's).
 */
int vmcs_start_sipi(struct vcpu *v, unsigned vector)
{
	const struct mode_state *m = &mode_states[GUEST_MODE_REAL];
	if (!vmx_caps.unrestricted)
		return -ENOTSUP;
	int err = setup_guest_segments(m) | setup_start_regs(m, 0, 0, 0);
	err |= vmwrite(VMCS_GUEST_ES_SEL + 2, (vector & 0xFF) << 8); /* CS */
	err |= vmwrite(VMCS_GUEST_ES_BASE + 2, (uint64_t)(vector & 0xFF) << 12);
	err |= vmwrite(VMCS_GUEST_GDTR_BASE, 0);
	err |= vmwrite(VMCS_GUEST_GDTR_LIMIT, 0xFFFF);
	err |= vmwrite(VMCS_GUEST_IDTR_LIMIT, 0xFFFF);
	err |= vmwrite(VMCS_ENTRY_CTLS, vmx_caps.entry & ~ENTRY_IA32E);
	err |= vmwrite(VMCS_ENTRY_INTR_INFO, 0);
	err |= vmwrite(VMCS_GUEST_PENDING_DBG, 0);
	memset(&v->regs, 0, sizeof(v->regs));
	return err ? -EIO : 0;
}

int vmcs_alloc(struct vcpu *v)
{
	if (v->vmcs)
		return 0;
	struct frame *f = frame_alloc(0, FRAME_KERNEL);
	if (!f)
		return -ENOMEM;
	memset(frame_kva(f), 0, PAGE_SIZE);
	*(uint32_t *)frame_kva(f) = (uint32_t)(vmx_caps.basic & 0x7FFFFFFF); /* 25.2 */
	unsigned long flags = arch_irq_save();
	(void)vmx_vmclear(frame_pa(f)); /* launch state "clear" (25.11.3) */
	arch_irq_restore(flags);
	v->vmcs = f;
	return 0;
}

void vmcs_free(struct vcpu *v)
{
	if (v->vmcs)
		frame_free(v->vmcs, 0);
	v->vmcs = NULL;
}

/* Fills the VMCS the first time; after a move, rewrites this CPU's host state. */
static int vmcs_prepare(struct vcpu *v, int self)
{
	if (!v->initialized) {
		if (vmcs_setup(v))
			return -EIO;
		v->initialized = true;
	} else if (v->host_cpu != self) {
		if (vmcs_setup_host())
			return -EIO;
		v->migrations++;
	}
	return 0;
}

int vmcs_load(struct vcpu *v)
{
	int self = (int)this_cpu_id();
	if (vmx_vmptrld(frame_pa(v->vmcs)) || vmcs_prepare(v, self))
		goto out_clear;
	bool moved = v->host_cpu != self;
	v->host_cpu = self;
	v->launched = false; /* VMCLEARed when it left the last CPU (or never launched) */
	if (v->vpid && vmwrite(VMCS_VPID, v->vpid))
		goto out_clear;
	vm_space_activate(&v->guest->space); /* writes the EPTP into the current VMCS */
	/* This CPU may still hold translations tagged with v's VPID from when v last ran
	 * here, older than what the guest has changed since on other CPUs (28.3.3.3):
	 * drop them. */
	if (moved && v->vpid)
		ept_flush_vpid(v->vpid);
	return 0;
out_clear:
	(void)vmx_vmclear(frame_pa(v->vmcs)); /* nothing was activated */
	return -EIO;
}

void vmcs_unload(struct vcpu *v)
{
	vm_space_deactivate(&v->guest->space);
	(void)vmx_vmclear(frame_pa(v->vmcs));
	v->launched = false;
}
