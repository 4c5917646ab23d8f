/*
 * VM-exit handlers, one small function per basic exit reason, and the dispatch table
 * indexed by that reason (SDM Vol 3D appendix C). Exit qualifications: SDM Vol 3C
 * 28.2.1. A guest's misbehaviour injects a fault or ends that guest; never a panic.
 */
#include <keel/errno.h>
#include <keel/heap.h>
#include <keel/printk.h>
#include <uapi/keel_hypercall.h>

#include "guest.h"

void vcpu_skip_insn(struct vcpu *v)
{
	(void)vmwrite(VMCS_GUEST_RIP, v->rip + v->insn_len);
}

/* VM-entry interruption information (SDM Vol 3C 25.8.3): type 3 = hardware exception. */
void vcpu_inject(struct vcpu *v, unsigned vector, bool has_error, uint32_t error)
{
	uint32_t info = vector | (3u << 8) | (has_error ? 1u << 11 : 0) | (1u << 31);
	(void)vmwrite(VMCS_ENTRY_INTR_INFO, info);
	if (has_error)
		(void)vmwrite(VMCS_ENTRY_EXC_ERROR, error);
}

static enum exit_action exit_ext_intr(struct vcpu *v)
{
	return EXIT_RESUME; /* the interrupt stays pending and is taken by the host */
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

static enum exit_action exit_hlt(struct vcpu *v)
{
	/* Keel injects no interrupts yet: nothing could wake the guest. */
	return guest_kill(v->guest, "HLT at RIP 0x%llx: guest halted for good",
			  (unsigned long long)v->rip);
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
		guest_uart_put(v->guest, buf[i]);
	kfree(buf);
	return err ? -EFAULT : (int64_t)len;
}

static enum exit_action exit_vmcall(struct vcpu *v)
{
	struct vcpu_regs *r = &v->regs;
	struct guest *g = v->guest;
	int64_t ret;
	g->hypercall_count++;
	switch (r->rax) {
	case KEEL_HC_CONSOLE_WRITE:
		ret = hc_console_write(v, r->rdi, r->rsi);
		break;
	case KEEL_HC_EXIT:
		g->status = (int64_t)r->rdi;
		g->state = GUEST_EXITED;
		return EXIT_STOP;
	case KEEL_HC_NOP:
		ret = 0;
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
		v->regs.rax = (v->regs.rax & ~mask) | (val & mask);
	} else if (port == KEEL_GUEST_UART) {
		guest_uart_put(g, (char)v->regs.rax);
	} else if (port == KEEL_GUEST_EXIT_PORT) {
		g->status = (int64_t)(v->regs.rax & mask);
		g->state = GUEST_EXITED;
		return EXIT_STOP;
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
	/* EFER: only NXE may change; LME/LMA stay on (64-bit guests only for now). */
	if (f < 0 ||
	    (msr == MSR_EFER && (val & ~EFER_NXE) != (vmread(VMCS_GUEST_EFER) & ~EFER_NXE))) {
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
	return EXIT_RESUME; /* a time slice ended; one guest at a time: carry on */
}

const exit_handler_fn vmx_exit_handlers[EXIT_REASON_COUNT] = {
	[EXIT_EXT_INTR] = exit_ext_intr,
	[EXIT_TRIPLE_FAULT] = exit_triple_fault,
	[EXIT_CPUID] = exit_cpuid,
	[EXIT_HLT] = exit_hlt,
	[EXIT_VMCALL] = exit_vmcall,
	[EXIT_IO] = exit_io,
	[EXIT_RDMSR] = exit_rdmsr,
	[EXIT_WRMSR] = exit_wrmsr,
	[EXIT_EPT_VIOLATION] = exit_ept_violation,
	[EXIT_EPT_MISCONFIG] = exit_ept_misconfig,
	[EXIT_PREEMPT_TIMER] = exit_preempt_timer,
};
