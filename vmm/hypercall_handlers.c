/*
 * The hypercall handlers, one per row of include/uapi/hypercalls.tab. Each runs after
 * hypercall.c unpacked its arguments: numbers are within their bounds, buffers pinned
 * (a->pin), addresses typed (a->gpa). A handler reads a buffer once into hypervisor
 * memory when it acts on its contents, so the guest cannot change them under it.
 */
#include <keel/errno.h>
#include <keel/heap.h>

#include "dev/console.h"
#include "dev/timer.h"
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
