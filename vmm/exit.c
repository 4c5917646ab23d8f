/*
 * VM-exit handlers, one small function per basic exit reason, and the dispatch table
 * indexed by that reason (SDM Vol 3D appendix C). Exit qualifications: SDM Vol 3C
 * 28.2.1. A guest's misbehaviour injects a fault or ends that guest; never a panic.
 */
#include <keel/errno.h>
#include <keel/heap.h>
#include <keel/printk.h>
#include <keel/time.h>
#include <uapi/keel_hypercall.h>

#include "guest.h"

/* The emulated instruction completes: a STI or MOV-SS shadow it sat in ends with it
 * (25.4.2 table 25-3), as on hardware (e.g. "sti; hlt" then wakes to an interrupt). */
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

bool vcpu_in_64bit_mode(struct vcpu *v)
{
	return (vmread(VMCS_GUEST_CS_AR) >> 13) & 1; /* CS.L (25.4.1 table 25-2) */
}

static enum exit_action exit_ext_intr(struct vcpu *v)
{
	return EXIT_RESUME; /* the interrupt stays pending and is taken by the host */
}

/* Exception bitmap is 0, so only host NMIs exit here (PIN_NMI; 28.2.2 interruption
 * type 2). The host's NMI handler runs (it stops this CPU if a panic stops all). */
static enum exit_action exit_exception_nmi(struct vcpu *v)
{
	uint32_t info = (uint32_t)vmread(VMCS_EXIT_INTR_INFO);
	if ((info >> 31) && ((info >> 8) & 7) == 2) {
		__asm__ __volatile__("int $2");
		return EXIT_RESUME;
	}
	return guest_kill(v->guest, "unexpected exception exit, interruption info 0x%x", info);
}

static enum exit_action exit_triple_fault(struct vcpu *v)
{
	return guest_kill(v->guest, "triple fault at RIP 0x%llx", (unsigned long long)v->rip);
}

/* CPUID filtered: hypervisor bit set, VMX hidden, Keel's leaf at 0x40000000. */
static enum exit_action exit_cpuid(struct vcpu *v)
{
	struct vcpu_regs *r = &v->regs;
	uint32_t leaf = (uint32_t)r->rax, sub = (uint32_t)r->rcx, a, b, c, d;
	if (leaf == KEEL_CPUID_LEAF) {
		a = KEEL_CPUID_LEAF;
		b = 0x6C65654B; /* "Keel" */
		c = d = b;
	} else if (leaf >= 0x40000000 && leaf < 0x50000000) {
		a = b = c = d = 0;
	} else {
		cpuid(leaf, sub, &a, &b, &c, &d);
		if (leaf == 1) {
			c |= 1u << 31;	 /* hypervisor present */
			c &= ~(1u << 5); /* no nested VMX */
		}
	}
	r->rax = a;
	r->rbx = b;
	r->rcx = c;
	r->rdx = d;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}

#define RFLAGS_IF (1ull << 9)

/* HLT: with interrupts enabled and the virtual timer armed (or an interrupt pending),
 * the vCPU blocks until it fires; otherwise nothing can ever wake it, and it stops
 * (sched.c ends the guest once all its vCPUs stopped). */
static enum exit_action exit_hlt(struct vcpu *v)
{
	bool can_wake =
	    (vmread(VMCS_GUEST_RFLAGS) & RFLAGS_IF) && (v->timer_deadline || v->irq_pending >= 0);
	vcpu_skip_insn(v);
	if (!can_wake)
		return EXIT_HALT;
	v->wake_at = v->irq_pending >= 0 ? 0 : v->timer_deadline;
	return EXIT_BLOCK;
}

/* Interrupt-window exiting was on because an interrupt waited for RFLAGS.IF: the guest
 * can take it now; vcpu_deliver_irq injects it at this entry (28.2, 26.7.5). */
static enum exit_action exit_intr_window(struct vcpu *v)
{
	(void)vmwrite(VMCS_PROC_CTLS, vmx_caps.proc);
	return EXIT_RESUME;
}

void vcpu_deliver_irq(struct vcpu *v, uint64_t now)
{
	if (v->timer_deadline && now >= v->timer_deadline && v->irq_pending < 0) {
		v->irq_pending = (int)v->timer_vector;
		v->timer_deadline = 0;
	}
	if (v->irq_pending < 0)
		return;
	/* Deliverable now: no event already going in at this entry (an exception from
	 * this exit, or a re-delivered one), IF = 1, no STI / MOV-SS blocking (25.4.2
	 * table 25-3). Otherwise exit as soon as the guest can take it. */
	bool busy = vmread(VMCS_ENTRY_INTR_INFO) >> 31;
	if (!busy && (vmread(VMCS_GUEST_RFLAGS) & RFLAGS_IF) &&
	    !(vmread(VMCS_GUEST_INTERRUPTIBILITY) & 3)) {
		/* Type 0 external interrupt, valid (25.8.3). */
		(void)vmwrite(VMCS_ENTRY_INTR_INFO, (uint32_t)v->irq_pending | (1u << 31));
		(void)vmwrite(VMCS_PROC_CTLS, vmx_caps.proc);
		v->irq_pending = -1;
		v->irqs_injected++;
	} else if (vmx_caps.intr_window) {
		(void)vmwrite(VMCS_PROC_CTLS, vmx_caps.proc | PROC_INTR_WINDOW);
	}
}

/* Microseconds to TSC cycles. */
static uint64_t us_to_cycles(uint64_t us)
{
	return us * (time_cycles_hz() / 1000000);
}

static int64_t hc_timer_set(struct vcpu *v, uint64_t delay_us, uint64_t vector)
{
	if (vector < 32 || vector > 255 || delay_us > 60000000)
		return -EINVAL;
	v->timer_deadline = delay_us ? rdtsc() + MAX(us_to_cycles(delay_us), 1) : 0;
	v->timer_vector = (unsigned)vector;
	return 0;
}

#define CR0_PG_BIT (1ull << 31)

/* General register number of exit qualifications (28.2.1 table 28-3) -> its slot. */
static uint64_t *vcpu_gpr(struct vcpu *v, unsigned n)
{
	struct vcpu_regs *r = &v->regs;
	uint64_t *const map[16] = { &r->rax, &r->rcx, &r->rdx, &r->rbx, NULL,	 &r->rbp,
				    &r->rsi, &r->rdi, &r->r8,  &r->r9,	&r->r10, &r->r11,
				    &r->r12, &r->r13, &r->r14, &r->r15 };
	return map[n & 15];
}

/*
 * MOV to CR0/CR4 touching a host-owned bit (28.2.1 table 28-3: bits 3:0 CR, 5:4 type,
 * 11:8 register). The guest reads back what it wrote (the shadow); the real register
 * keeps what VMX forces. CR4.VMXE (nested VMX) is refused with #GP. Known gap: a write
 * that also turns on PAE paging (32-bit guest) does not load the VMCS PDPTE fields
 * (26.3.1.6); such a write only exits here if it also changes CR0.NE.
 */
static enum exit_action exit_cr_access(struct vcpu *v)
{
	uint64_t q = v->exit_qual;
	unsigned cr = q & 15, type = (q >> 4) & 3, reg = (q >> 8) & 15;
	if (type != 0 || (cr != 0 && cr != 4))
		return guest_kill(v->guest,
				  "unsupported control-register access (qual 0x%llx) at "
				  "RIP 0x%llx",
				  (unsigned long long)q, (unsigned long long)v->rip);
	uint64_t val = reg == 4 ? vmread(VMCS_GUEST_RSP) : *vcpu_gpr(v, reg);
	if (!vcpu_in_64bit_mode(v))
		val = (uint32_t)val;
	/* What the CPU itself refuses with #GP: reserved bits 63:32, CR0.PG without PE,
	 * and CR4.VMXE here (no nested VMX). */
	if ((val >> 32) || (cr == 0 && (val & CR0_PG_BIT) && !(val & 1)) ||
	    (cr == 4 && (val & CR4_VMXE))) {
		vcpu_inject(v, 13, true, 0);
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

/* ---- Hypercalls (include/uapi/keel_hypercall.h) */

static int64_t hc_console_write(struct vcpu *v, uint64_t gpa, uint64_t len)
{
	if (len > KEEL_HC_CONSOLE_MAX)
		return -EINVAL;
	if (!len)
		return 0;
	struct vm_pin pin;
	int err = vm_space_pin(&v->guest->space, VA(gpa), len, VM_ACCESS_READ, &pin);
	if (err)
		return err == -ENOMEM ? -ENOMEM : -EFAULT;
	char *buf = kmalloc(len);
	if (!buf) {
		vm_space_unpin(&pin);
		return -ENOMEM;
	}
	err = vm_pin_read(&pin, 0, buf, len); /* read once: the guest cannot change it after */
	vm_space_unpin(&pin);
	for (uint64_t i = 0; !err && i < len; i++)
		guest_uart_put(v->guest, buf[i]); /* output of vCPUs interleaves by byte */
	kfree(buf);
	return err ? -EFAULT : (int64_t)len;
}

/*
 * Unmaps guest RAM [gpa, gpa + len) from the EPT space; the demand frames go back to the
 * allocator after every CPU running the guest flushed (vm_space_unmap). A page pinned by
 * another vCPU's hypercall makes the caller retry (-EBUSY: the VMCALL runs again), so
 * no CPU spins on a pin while it could run another vCPU.
 */
static int64_t hc_mem_release(struct vcpu *v, uint64_t gpa, uint64_t len)
{
	struct guest *g = v->guest;

	if (!len || !IS_ALIGNED(gpa | len, PAGE_SIZE) || gpa >= g->mem || len > g->mem - gpa)
		return -EINVAL;
	return vm_space_unmap(&g->space, VA(gpa), len, VM_NOWAIT);
}

static enum exit_action exit_vmcall(struct vcpu *v)
{
	struct vcpu_regs *r = &v->regs;
	struct guest *g = v->guest;
	/* Outside 64-bit mode the upper halves are undefined: use eax, edi, esi. */
	uint64_t mask = vcpu_in_64bit_mode(v) ? ~0ull : 0xFFFFFFFFull;
	uint64_t nr = r->rax & mask, a0 = r->rdi & mask, a1 = r->rsi & mask;
	int64_t ret;
	v->hypercall_count++;
	switch (nr) {
	case KEEL_HC_CONSOLE_WRITE:
		ret = hc_console_write(v, a0, a1);
		break;
	case KEEL_HC_EXIT:
		return guest_exit(g, mask == ~0ull ? (int64_t)a0 : (int32_t)a0);
	case KEEL_HC_NOP:
		ret = 0;
		break;
	case KEEL_HC_GUEST_PAGES:
		ret = (int64_t)__atomic_load_n(&g->space.fault_count, __ATOMIC_RELAXED);
		break;
	case KEEL_HC_VCPU_INFO:
		ret = v->index;
		break;
	case KEEL_HC_TIMER_SET:
		ret = hc_timer_set(v, a0, a1);
		break;
	case KEEL_HC_MEM_RELEASE:
		ret = hc_mem_release(v, a0, a1);
		if (ret == -EBUSY)
			return EXIT_YIELD; /* a page is pinned: retry the VMCALL later */
		break;
	default:
		ret = -ENOSYS;
	}
	r->rax = (uint64_t)ret;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}

/* ---- I/O: qualification bits 2:0 size - 1, 3 in, 4 string, 31:16 port (28.2.1). */

static enum exit_action exit_io(struct vcpu *v)
{
	struct guest *g = v->guest;
	uint64_t q = v->exit_qual;
	unsigned port = (unsigned)(q >> 16) & 0xFFFF;
	bool in = (q >> 3) & 1;
	unsigned size = (unsigned)(q & 7) + 1;
	if (q & (1u << 4))
		return guest_kill(g, "string I/O on port 0x%x is not emulated", port);
	uint64_t mask = size == 4 ? 0xFFFFFFFFull : (1ull << (8 * size)) - 1;
	if (in) {
		uint64_t val = mask; /* no device: all ones */
		if (port == KEEL_GUEST_UART + 5)
			val = 0x60; /* LSR: transmitter empty */
		else if (port > KEEL_GUEST_UART && port < KEEL_GUEST_UART + 8)
			val = 0;
		/* A 32-bit IN zero-extends into RAX; 8/16-bit ones keep the rest. */
		v->regs.rax = size == 4 ? val & mask : (v->regs.rax & ~mask) | (val & mask);
	} else if (port == KEEL_GUEST_UART) {
		guest_uart_put(g, (char)v->regs.rax);
	} else if (port == KEEL_GUEST_EXIT_PORT) {
		return guest_exit(g, (int64_t)(v->regs.rax & mask));
	}
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}

/* ---- MSRs: a small allow-list backed by VMCS guest fields; #GP otherwise. */

#define VMCS_GUEST_FS_BASE 0x680E
#define VMCS_GUEST_GS_BASE 0x6810

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

static enum exit_action exit_rdmsr(struct vcpu *v)
{
	int f = msr_field((uint32_t)v->regs.rcx);
	if (f < 0) {
		vcpu_inject(v, 13, true, 0);
		return EXIT_RESUME;
	}
	uint64_t val = vmread((uint64_t)f);
	v->regs.rax = (uint32_t)val;
	v->regs.rdx = val >> 32;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}

static enum exit_action exit_wrmsr(struct vcpu *v)
{
	uint32_t msr = (uint32_t)v->regs.rcx;
	uint64_t val = (v->regs.rdx << 32) | (uint32_t)v->regs.rax;
	int f = msr_field(msr);
	/* EFER: only NXE may change; LME/LMA keep their start values (a guest-made switch
	 * to long mode would need the IA-32e entry control toggled: not supported yet). */
	bool canonical = (uint64_t)((int64_t)(val << 16) >> 16) == val;
	if (f < 0 ||
	    (msr == MSR_EFER && (val & ~EFER_NXE) != (vmread(VMCS_GUEST_EFER) & ~EFER_NXE)) ||
	    (msr != MSR_EFER && !canonical)) {
		vcpu_inject(v, 13, true, 0);
		return EXIT_RESUME;
	}
	(void)vmwrite((uint64_t)f, val);
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}

/* ---- EPT: qualification bit 0 read, 1 write, 2 fetch (28.2.1 table 28-7). */

static enum exit_action exit_ept_violation(struct vcpu *v)
{
	struct guest *g = v->guest;
	uint64_t gpa = vmread(VMCS_GUEST_PHYS_ADDR), q = v->exit_qual;
	unsigned access = ((q & 1) ? VM_ACCESS_READ : 0) | ((q & 2) ? VM_ACCESS_WRITE : 0) |
			  ((q & 4) ? VM_ACCESS_EXEC : 0);
	const char *kind = (q & 4) ? "fetch" : (q & 2) ? "write" : "read";
	if (gpa >= g->mem)
		return guest_kill(g, "%s at GPA 0x%llx outside guest RAM [0, 0x%llx) at RIP 0x%llx",
				  kind, (unsigned long long)gpa, (unsigned long long)g->mem,
				  (unsigned long long)v->rip);
	int err = vm_space_handle_fault(&g->space, VA(gpa & ~PAGE_MASK), access);
	if (err)
		return guest_kill(g, "EPT violation (%s) at GPA 0x%llx not resolved: error %d",
				  kind, (unsigned long long)gpa, err);
	return EXIT_RESUME;
}

static enum exit_action exit_ept_misconfig(struct vcpu *v)
{
	return guest_kill(v->guest, "EPT misconfiguration at GPA 0x%llx (a Keel bug)",
			  (unsigned long long)vmread(VMCS_GUEST_PHYS_ADDR));
}

static enum exit_action exit_preempt_timer(struct vcpu *v)
{
	return EXIT_RESUME; /* sched.c checks the slice and the time limit at every exit */
}

const exit_handler_fn vmx_exit_handlers[EXIT_REASON_COUNT] = {
	[EXIT_EXCEPTION_NMI] = exit_exception_nmi,
	[EXIT_EXT_INTR] = exit_ext_intr,
	[EXIT_TRIPLE_FAULT] = exit_triple_fault,
	[EXIT_CPUID] = exit_cpuid,
	[EXIT_INTR_WINDOW] = exit_intr_window,
	[EXIT_HLT] = exit_hlt,
	[EXIT_VMCALL] = exit_vmcall,
	[EXIT_CR_ACCESS] = exit_cr_access,
	[EXIT_IO] = exit_io,
	[EXIT_RDMSR] = exit_rdmsr,
	[EXIT_WRMSR] = exit_wrmsr,
	[EXIT_EPT_VIOLATION] = exit_ept_violation,
	[EXIT_EPT_MISCONFIG] = exit_ept_misconfig,
	[EXIT_PREEMPT_TIMER] = exit_preempt_timer,
};
