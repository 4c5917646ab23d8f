/*
 * The hypercall table (hypercall.h) and its handlers, and the VMCALL exit. Guest
 * buffers are pinned in the guest's EPT space while a handler uses them, and read once
 * into hypervisor memory (the guest cannot change them after the check).
 */
#include <keel/errno.h>
#include <keel/heap.h>
#include <uapi/keel_hypercall.h>

#include "dev/console.h"
#include "dev/timer.h"
#include "exit_handlers.h"
#include "guest_mem.h"
#include "hypercall.h"
#include "vcpu.h"

static int64_t hc_console_write(struct vcpu *v, uint64_t buf, uint64_t len)
{
	if (len > KEEL_HC_CONSOLE_MAX)
		return -EINVAL;
	if (!len)
		return 0;
	struct vm_pin pin;
	int err = vm_space_pin_gpa(&v->guest->space, GPA(buf), len, VM_ACCESS_READ, &pin);
	if (err)
		return err == -ENOMEM ? -ENOMEM : -EFAULT;
	char *copy = kmalloc(len);
	if (!copy) {
		vm_space_unpin(&pin);
		return -ENOMEM;
	}
	err = vm_pin_read(&pin, 0, copy, len); /* read once: the guest cannot change it after */
	vm_space_unpin(&pin);
	for (uint64_t i = 0; !err && i < len; i++)
		guest_console_put(v->guest, copy[i]);
	kfree(copy);
	return err ? -EFAULT : (int64_t)len;
}

static int64_t hc_exit(struct vcpu *v, uint64_t status, uint64_t unused)
{
	int64_t s = vcpu_in_64bit_mode(v) ? (int64_t)status : (int32_t)status;
	guest_exit(v->guest, s);
	return 0;
}

static int64_t hc_nop(struct vcpu *v, uint64_t a0, uint64_t a1)
{
	return 0;
}

static int64_t hc_guest_pages(struct vcpu *v, uint64_t a0, uint64_t a1)
{
	return (int64_t)__atomic_load_n(&v->guest->space.fault_count, __ATOMIC_RELAXED);
}

static int64_t hc_vcpu_info(struct vcpu *v, uint64_t a0, uint64_t a1)
{
	return v->index;
}

static int64_t hc_timer_set(struct vcpu *v, uint64_t delay_us, uint64_t vector)
{
	return vtimer_set(v, delay_us, vector);
}

/* A page pinned by another vCPU's hypercall gives -EBUSY: retried (retry_busy), so no
 * CPU spins on a pin while it could run another vCPU. */
static int64_t hc_mem_release(struct vcpu *v, uint64_t gpa, uint64_t len)
{
	return guest_mem_release(v->guest, GPA(gpa), len);
}

const struct hypercall hypercalls[KEEL_HC_COUNT] = {
	[KEEL_HC_CONSOLE_WRITE] = { "console_write", hc_console_write, false },
	[KEEL_HC_EXIT] = { "exit", hc_exit, false },
	[KEEL_HC_NOP] = { "nop", hc_nop, false },
	[KEEL_HC_GUEST_PAGES] = { "guest_pages", hc_guest_pages, false },
	[KEEL_HC_VCPU_INFO] = { "vcpu_info", hc_vcpu_info, false },
	[KEEL_HC_TIMER_SET] = { "timer_set", hc_timer_set, false },
	[KEEL_HC_MEM_RELEASE] = { "mem_release", hc_mem_release, true },
};

/* VMCALL (SDM Vol 2C VMCALL; exit reason 18): rax = number, rdi, rsi = arguments;
 * outside 64-bit mode the upper halves are undefined: eax, edi, esi. */
enum exit_action exit_vmcall(struct vcpu *v)
{
	struct vcpu_regs *r = &v->regs;
	uint64_t mask = vcpu_in_64bit_mode(v) ? ~0ull : 0xFFFFFFFFull;
	uint64_t nr = r->rax & mask;
	v->hypercall_count++;
	const struct hypercall *h = nr < KEEL_HC_COUNT ? &hypercalls[nr] : NULL;
	int64_t ret = h && h->fn ? h->fn(v, r->rdi & mask, r->rsi & mask) : -ENOSYS;
	if (guest_ended(v->guest))
		return EXIT_STOP;
	if (ret == -EBUSY && h && h->retry_busy)
		return EXIT_YIELD;
	r->rax = (uint64_t)ret;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}
