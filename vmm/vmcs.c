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

#include "cpu_model.h"
#include "layout.h"
#include "multiboot.h"
#include "vmcs.h"
#include "xstate.h"

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __packed;

/*
 * The syscall MSRs, KERNEL_GS_BASE and TSC_AUX have no VMCS guest field, and the CPU
 * uses them in the guest (SYSCALL, SWAPGS, RDTSCP), so they are switched by the MSR
 * lists (SDM Vol 3C 25.7.2, 25.8.2; 27.4 "Loading MSRs"; 28.4 "Saving MSRs"; 28.6
 * "Loading MSRs" at exit). One list per vCPU is both its VM-entry MSR-load list and its
 * VM-exit MSR-store list: each entry loads the guest's values, each exit stores them
 * back (SWAPGS changes KERNEL_GS_BASE without an exit), so RDMSR/WRMSR exits read and
 * write the list in memory. A second list, the VM-exit MSR-load list, puts the host's
 * values back; they are read on the CPU whenever the host state is written (first
 * entry, each move to another CPU). Chosen over WRMSR/RDMSR around every entry in
 * software: the CPU does it inside the entry and exit, no exit path can forget the
 * restore, and the run loop stays as it is.
 */
struct msr_entry {
	uint32_t index, reserved; /* 25.7.2 "format of an MSR entry": reserved must be 0 */
	uint64_t data;
};
static const uint32_t list_msrs[] = {
	CPU_MSR_STAR,	CPU_MSR_LSTAR,		CPU_MSR_CSTAR,
	CPU_MSR_SFMASK, CPU_MSR_KERNEL_GS_BASE, CPU_MSR_TSC_AUX
}; /* TSC_AUX last: only with RDTSCP */
#define LIST_MAX (sizeof(list_msrs) / sizeof(list_msrs[0]))
#define LIST_HOST_OFFSET (PAGE_SIZE / 2)

static unsigned list_count(void)
{
	return (vmx_caps.proc2 & PROC2_RDTSCP) ? LIST_MAX : LIST_MAX - 1;
}

static struct msr_entry *msr_list(struct vcpu *v, bool host)
{
	return (struct msr_entry *)((uint8_t *)v->msr_kva + (host ? LIST_HOST_OFFSET : 0));
}

/* The host's values of the listed MSRs on this CPU (its exit MSR-load list). */
static void msr_lists_host(struct vcpu *v)
{
	struct msr_entry *h = msr_list(v, true);
	for (unsigned i = 0; i < list_count(); i++)
		h[i] = (struct msr_entry){ list_msrs[i], 0, rdmsr(list_msrs[i]) };
}

/* The guest's list at reset values (0: SDM Vol 3A 10.1 "Initialization Overview")
 * and the three list addresses and counts. */
static int msr_lists_setup(struct vcpu *v)
{
	struct msr_entry *g = msr_list(v, false);
	unsigned n = list_count();
	for (unsigned i = 0; i < n; i++)
		g[i] = (struct msr_entry){ list_msrs[i], 0, 0 };
	paddr_t pa = frame_pa(v->msr_list);
	int err = 0;
	err |= vmwrite(VMCS_ENTRY_MSR_LOAD_ADDR, pa.v);
	err |= vmwrite(VMCS_EXIT_MSR_STORE_ADDR, pa.v);
	err |= vmwrite(VMCS_EXIT_MSR_LOAD_ADDR, pa.v + LIST_HOST_OFFSET);
	err |= vmwrite(VMCS_ENTRY_MSR_LOAD_COUNT, n);
	err |= vmwrite(VMCS_EXIT_MSR_STORE_COUNT, n);
	err |= vmwrite(VMCS_EXIT_MSR_LOAD_COUNT, n);
	return err;
}

/* The list index of msr: list_msrs is STAR..SFMASK (0xC0000081-84), then
 * KERNEL_GS_BASE and TSC_AUX (0xC0000102-03). */
uint64_t *vmcs_msr_slot(struct vcpu *v, uint32_t msr)
{
	unsigned i;
	if (msr - CPU_MSR_STAR <= CPU_MSR_SFMASK - CPU_MSR_STAR)
		i = msr - CPU_MSR_STAR;
	else if (msr - CPU_MSR_KERNEL_GS_BASE <= 1)
		i = 4 + msr - CPU_MSR_KERNEL_GS_BASE;
	else
		return NULL;
	return i < list_count() ? &msr_list(v, false)[i].data : NULL;
}

/* Host state: this CPU's control registers and tables (27.2.2, 28.5 "Loading Host State").
 * Per CPU (GS base, TSS, GDT): rewritten whenever a vCPU's VMCS moves to another CPU. */
static int vmcs_setup_host(struct vcpu *v)
{
	msr_lists_host(v);
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
	if (vmcs_pat_virtualised())
		err |= vmwrite(VMCS_HOST_PAT, rdmsr(CPU_MSR_PAT));
	err |= vmwrite(VMCS_HOST_RIP, (uint64_t)vmx_exit_stub);
	return err ? -EIO : 0; /* HOST_RSP: written by vmx_enter before each entry */
}

#define CR0_PE CPU_CR0_PE
#define CR0_ET CPU_CR0_ET
#define CR0_PG CPU_CR0_PG

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

/*
 * Guest/host masks (SDM Vol 3C 25.6.6): a MOV to CR0/CR4 exits when it would change a
 * bit set in the mask from its read-shadow value. Keel owns the bits VMX forces, CR0.PG
 * and CR4.PAE (every paging switch, where EFER.LMA, the "IA-32e mode guest" entry
 * control and the PDPTEs change: exit_cr.c), and CR4.SMXE (SMX is hidden). Everything
 * else (PE under unrestricted guest, WP, CD, NW, PGE, OSFXSR, OSXSAVE, ...) is the
 * guest's: the CPU applies and checks those writes itself, without an exit.
 */
static uint64_t cr0_mask(void)
{
	return cr0_forced() | CR0_PG;
}

static uint64_t cr4_mask(void)
{
	return vmx_caps.cr4_fixed0 | CPU_CR4_PAE | CPU_CR4_SMXE;
}

/* IA32_PAT is the guest's only with all three controls: loaded at entry, saved and
 * the host's loaded at exit (25.7.1, 25.8.1). Without them the guest's CPU has no PAT. */
bool vmcs_pat_virtualised(void)
{
	return (vmx_caps.entry & ENTRY_LOAD_PAT) &&
	       (vmx_caps.exit & (EXIT_SAVE_PAT | EXIT_LOAD_PAT)) == (EXIT_SAVE_PAT | EXIT_LOAD_PAT);
}

static int setup_controls(enum guest_mode mode)
{
	const struct vmx_caps *c = &vmx_caps;
	uint32_t entry = mode == GUEST_MODE_LONG ? c->entry : c->entry & ~ENTRY_IA32E;
	uint32_t exit = c->exit;
	if (!vmcs_pat_virtualised()) {
		entry &= ~ENTRY_LOAD_PAT;
		exit &= ~(EXIT_SAVE_PAT | EXIT_LOAD_PAT);
	}
	int err = 0;
	err |= vmwrite(VMCS_PIN_CTLS, c->pin);
	err |= vmwrite(VMCS_PROC_CTLS, c->proc);
	err |= vmwrite(VMCS_PROC2_CTLS, c->proc2);
	err |= vmwrite(VMCS_EXIT_CTLS, exit);
	err |= vmwrite(VMCS_ENTRY_CTLS, entry);
	err |= vmwrite(VMCS_EXCEPTION_BITMAP, 0);
	err |= vmwrite(VMCS_CR3_TARGET_COUNT, 0);
	err |= vmwrite(VMCS_ENTRY_INTR_INFO, 0);
	err |= vmwrite(VMCS_LINK_POINTER, ~0ull); /* no shadow VMCS (27.3.1.5) */
	err |= vmwrite(VMCS_CR0_MASK, cr0_mask());
	err |= vmwrite(VMCS_CR4_MASK, cr4_mask());
	if (c->proc & PROC_TSC_OFFSET)
		err |= vmwrite(VMCS_TSC_OFFSET, 0);
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

/* A Multiboot kernel's start state on top of 32-bit mode's (Multiboot spec 3.2, as QEMU
 * gives it): CS 0x08 in a flat GDT of its own, CR0 reading PE|ET, EAX the boot magic,
 * EBX the info structure. */
static int vmcs_setup_multiboot(struct vcpu *v)
{
	int err = vmwrite(VMCS_GUEST_ES_SEL + 2, GUEST_MB_SEL_CODE); /* CS */
	err |= vmwrite(VMCS_GUEST_GDTR_BASE, GUEST_MB_GDT);
	err |= vmwrite(VMCS_GUEST_GDTR_LIMIT, GUEST_MB_GDT_LIMIT);
	err |= vmwrite(VMCS_CR0_SHADOW, CR0_PE | CR0_ET);
	v->regs.rax = MB_BOOT_MAGIC;
	v->regs.rbx = v->guest->mb_info;
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
	int err = vmcs_setup_host(v) | setup_controls(g->mode) | setup_guest_segments(m);
	err |= msr_lists_setup(v);
	err |= setup_start_regs(m, g->mode == GUEST_MODE_LONG ? GUEST_PML4 : 0, rsp, g->entry);
	err |= vmwrite(VMCS_GUEST_SYSENTER_CS, 0);
	err |= vmwrite(VMCS_GUEST_SYSENTER_ESP, 0);
	err |= vmwrite(VMCS_GUEST_SYSENTER_EIP, 0);
	if (vmcs_pat_virtualised())
		err |= vmwrite(VMCS_GUEST_PAT, CPU_PAT_RESET);
	/* Fields a zeroed, VMCLEARed region is not promised to hold as 0 (25.11.3). */
	err |= vmwrite(VMCS_GUEST_DEBUGCTL, 0);
	err |= vmwrite(VMCS_GUEST_PENDING_DBG, 0);
	for (unsigned i = 0; i < 4; i++)
		err |= vmwrite(VMCS_GUEST_PDPTE0 + 2 * i, 0);
	memset(&v->regs, 0, sizeof(v->regs));
	v->xcr0 = CPU_XCR0_X87; /* XCR0 at reset (SDM Vol 1 13.3) */
	v->regs.rdi = g->arg;
	v->regs.rsi = v->index;
	v->regs.rdx = g->vcpu_count;
	if (g->multiboot)
		err |= vmcs_setup_multiboot(v);
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
	if (vcpu_fpu_alloc(v))
		return -ENOMEM;
	if (!v->msr_list) {
		v->msr_list = frame_alloc(0, FRAME_KERNEL);
		if (!v->msr_list)
			return -ENOMEM;
		v->msr_kva = frame_kva(v->msr_list);
		memset(v->msr_kva, 0, PAGE_SIZE);
	}
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
	if (v->msr_list)
		frame_free(v->msr_list, 0);
	vcpu_fpu_free(v);
	v->vmcs = NULL;
	v->msr_list = NULL;
	v->msr_kva = NULL;
}

/* The guest's CR0/CR4: its own bits from the register, Keel's from the read shadow
 * (25.6.6: a MOV from CR reads the shadow for masked bits). */
static uint64_t cr_read(uint64_t guest, uint64_t shadow, uint64_t mask)
{
	return (vmread(guest) & ~mask) | (vmread(shadow) & mask);
}

uint64_t vmcs_cr4_read(void)
{
	return cr_read(VMCS_GUEST_CR4, VMCS_CR4_SHADOW, cr4_mask());
}

struct cpu_mode vmcs_mode_read(void)
{
	return (struct cpu_mode){
		.cr0 = cr_read(VMCS_GUEST_CR0, VMCS_CR0_SHADOW, cr0_mask()),
		.cr4 = cr_read(VMCS_GUEST_CR4, VMCS_CR4_SHADOW, cr4_mask()),
		.efer = vmread(VMCS_GUEST_EFER),
		.cs_l = (vmread(VMCS_GUEST_CS_AR) >> 13) & 1, /* table 25-2 */
	};
}

/*
 * Loads a mode the guest switched to: shadows as it wrote them, the registers with the
 * bits VMX forces, EFER, and the "IA-32e mode guest" entry control equal to EFER.LMA
 * (27.3.1.1: VM entry checks they agree; 27.3.2.1 loads LMA from the control).
 */
int vmcs_mode_write(const struct cpu_mode *m)
{
	uint64_t entry = vmread(VMCS_ENTRY_CTLS) & ~(uint64_t)ENTRY_IA32E;
	if (m->efer & CPU_EFER_LMA)
		entry |= ENTRY_IA32E;
	int err = 0;
	err |= vmwrite(VMCS_CR0_SHADOW, m->cr0);
	err |= vmwrite(VMCS_GUEST_CR0, vmcs_guest_cr0(m->cr0));
	err |= vmwrite(VMCS_CR4_SHADOW, m->cr4);
	err |= vmwrite(VMCS_GUEST_CR4, vmcs_guest_cr4(m->cr4));
	err |= vmwrite(VMCS_GUEST_EFER, m->efer);
	err |= vmwrite(VMCS_ENTRY_CTLS, entry);
	return err ? -EIO : 0;
}

int vmcs_pdptes_write(const uint64_t pdpte[4])
{
	int err = 0;
	for (unsigned i = 0; i < 4; i++)
		err |= vmwrite(VMCS_GUEST_PDPTE0 + 2 * i, pdpte[i]);
	return err ? -EIO : 0;
}

/* Fills the VMCS the first time; after a move, rewrites this CPU's host state. */
static int vmcs_prepare(struct vcpu *v, int self)
{
	if (!v->initialized) {
		if (vmcs_setup(v))
			return -EIO;
		v->initialized = true;
	} else if (v->host_cpu != self) {
		if (vmcs_setup_host(v))
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
	vcpu_fpu_restore(v); /* its x87/SSE/AVX registers follow its VMCS */
	return 0;
out_clear:
	(void)vmx_vmclear(frame_pa(v->vmcs)); /* nothing was activated */
	return -EIO;
}

void vmcs_unload(struct vcpu *v)
{
	vcpu_fpu_save(v);
	vm_space_deactivate(&v->guest->space);
	(void)vmx_vmclear(frame_pa(v->vmcs));
	v->launched = false;
}
