/*
 * The hypercall handlers, one per row of include/uapi/hypercalls.tab. Each runs after
 * hypercall.c unpacked its arguments: numbers are within their bounds, buffers pinned
 * (a->pin), addresses typed (a->gpa). A handler reads a buffer once into hypervisor
 * memory when it acts on its contents, so the guest cannot change them under it.
 */
#include <keel/errno.h>
#include <keel/heap.h>
#include <keel/string.h>
#include <uapi/keel_hypercall.h>

#include "dev/console.h"
#include "dev/ioapic.h"
#include "dev/timer.h"
#include "dump.h"
#include "guest_mem.h"
#include "hypercall.h"

HC_HANDLER(console_write)
{
	uint64_t len = a->val[1];
	if (!len)
		return 0;
	char *copy = kmalloc(len);
	if (!copy)
		return -ENOMEM;
	int err = vm_pin_read(&a->pin[0], 0, copy, len);
	for (uint64_t i = 0; !err && i < len; i++)
		guest_console_put(v->guest, copy[i]);
	kfree(copy);
	return err ? -EFAULT : (int64_t)len;
}

HC_HANDLER(exit)
{
	guest_exit(v->guest, (int64_t)a->val[0]);
	return 0;
}

HC_HANDLER(nop)
{
	return 0;
}

HC_HANDLER(guest_pages)
{
	return (int64_t)__atomic_load_n(&v->guest->space.fault_count, __ATOMIC_RELAXED);
}

HC_HANDLER(vcpu_info)
{
	return v->index;
}

HC_HANDLER(timer_set)
{
	return vtimer_set(v, a->val[0], a->val[1]);
}

/* A page pinned by another vCPU's hypercall gives -EBUSY: retried (retry_busy in the
 * table), so no CPU spins on a pin while it could run another vCPU. */
HC_HANDLER(mem_release)
{
	return guest_mem_release(v->guest, a->gpa[0], a->val[1]);
}

HC_HANDLER(exit_stats)
{
	uint64_t words[4 + KEEL_EXIT_REASONS];
	words[0] = v->exit_total;
	words[1] = v->hypercall_count;
	words[2] = v->yields;
	words[3] = v->irqs_injected;
	for (unsigned r = 0; r < KEEL_EXIT_REASONS; r++)
		words[4 + r] = r < EXIT_REASON_COUNT ? v->exit_count[r] : 0;
	uint64_t len = a->val[1];
	if (len && vm_pin_write(&a->pin[0], 0, words, len))
		return -EFAULT;
	return (int64_t)len;
}

/* ---- mem_op: a long operation in steps, pins held across the exits in between. */

HC_RESUME(mem_op);

#define MEM_OP_STEP PAGE_SIZE /* bytes per exit */

/* Checks the copied descriptor: a known op, a length in range, ranges inside RAM,
 * copy ranges apart. */
static bool mem_op_valid(const struct guest *g, const uint64_t *w)
{
	uint64_t op = w[0], dst = w[1], src = w[2], len = w[3];
	if ((op != KEEL_MEM_OP_COPY && op != KEEL_MEM_OP_FILL) || !len || len > KEEL_MEM_OP_MAX)
		return false;
	if (dst >= g->mem || len > g->mem - dst)
		return false;
	if (op == KEEL_MEM_OP_FILL)
		return src <= 0xFF;
	return src < g->mem && len <= g->mem - src && (src + len <= dst || dst + len <= src);
}

/* Pins the operation's ranges into v->cont: dst writable, src readable (copy). */
static int mem_op_pin(struct vcpu *v)
{
	struct hc_cont *c = &v->cont;
	struct vm_space *s = &v->guest->space;
	uint64_t len = c->word[3];
	int err = vm_space_pin_gpa(s, GPA(c->word[1]), len, VM_ACCESS_WRITE, &c->pin[0]);
	if (err)
		return err == -ENOMEM ? -ENOMEM : -EFAULT;
	c->pinned[0] = true;
	if (c->word[0] != KEEL_MEM_OP_COPY)
		return 0;
	err = vm_space_pin_gpa(s, GPA(c->word[2]), len, VM_ACCESS_READ, &c->pin[1]);
	if (err) {
		hc_cont_abort(v);
		return err == -ENOMEM ? -ENOMEM : -EFAULT;
	}
	c->pinned[1] = true;
	return 0;
}

HC_HANDLER(mem_op)
{
	struct hc_cont *c = &v->cont;
	/* The descriptor is read once, here; everything after acts on this copy. */
	if (vm_pin_read(&a->pin[0], 0, c->word, sizeof(c->word)))
		return -EFAULT;
	if (!mem_op_valid(v->guest, c->word))
		return -EINVAL;
	int err = mem_op_pin(v);
	if (err)
		return err;
	c->done = 0;
	c->active = true;
	return hc_mem_op_resume(v);
}

/* One step: up to MEM_OP_STEP bytes through the pinned frames (direct map). */
static void mem_op_step(struct hc_cont *c, uint64_t n)
{
	while (n) {
		uint64_t run_dst, run_src = n;
		uint8_t *dst = vm_pin_kva(&c->pin[0], c->done, &run_dst);
		uint64_t run = MIN(n, run_dst);
		if (c->word[0] == KEEL_MEM_OP_COPY) {
			const uint8_t *src = vm_pin_kva(&c->pin[1], c->done, &run_src);
			run = MIN(run, run_src);
			memcpy(dst, src, run);
		} else {
			memset(dst, (int)c->word[2], run);
		}
		c->done += run;
		n -= run;
	}
}

HC_RESUME(mem_op)
{
	struct hc_cont *c = &v->cont;
	uint64_t len = c->word[3];
	mem_op_step(c, MIN(MEM_OP_STEP, len - c->done));
	if (c->done < len)
		return 0; /* c->active stays set: the VMCALL is retried for the next step */
	hc_cont_abort(v); /* unpins, clears active */
	return (int64_t)len;
}

/* Guest state checks, SDM Vol 3C 27.3.1.4: RFLAGS bit 1 must be 1. The next VM entry
 * fails; vmx_exit_dispatch ends the guest with the decoded reason. */
HC_HANDLER(test_bad_state)
{
	if (!v->guest->hooks)
		return -EPERM;
	(void)vmwrite(VMCS_GUEST_RFLAGS, 0);
	return 0;
}

/* Stands for a device raising an I/O APIC pin until real devices are wired to it. */
HC_HANDLER(test_irq)
{
	if (!v->guest->hooks)
		return -EPERM;
	return ioapic_raise(v->guest, (unsigned)a->val[0]);
}

HC_HANDLER(dump)
{
	return dump_for_guest(v, (unsigned)a->val[0], a->pinned[1] ? &a->pin[1] : NULL);
}
