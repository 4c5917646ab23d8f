/*
 * The system-call handlers (one per row of include/uapi/syscalls.tab, declared by the
 * generated syscall_table.c). Arguments arrive checked and pinned (syscall.c); each
 * handler checks what the table cannot say (alignment, windows) and returns a result
 * or a negative errno. Memory edits go through vm_space: the same cursors, shootdowns
 * (to exactly the CPUs running the space) and pin waits as every other space.
 */
#include <keel/errno.h>
#include <keel/string.h>
#include <keel/time.h>

#include "syscall.h"

SYS_HANDLER(write)
{
	uint64_t len = a->val[1], done = 0;

	while (done < len) {
		uint64_t run;
		const char *kva = vm_pin_kva(&a->pin[0], done, &run);

		process_console_write(p, kva, run);
		done += run;
	}
	return (int64_t)len;
}

SYS_HANDLER(puts)
{
	uint64_t len = strlen(a->str[0]);

	process_console_write(p, a->str[0], len);
	return (int64_t)len;
}

SYS_HANDLER(exit)
{
	process_exit((int64_t)a->val[0]);
}

SYS_HANDLER(getpid)
{
	return p->pid;
}

SYS_HANDLER(clock)
{
	return (int64_t)time_ns();
}

SYS_HANDLER(pages)
{
	return (int64_t)__atomic_load_n(&p->space.fault_count, __ATOMIC_RELAXED);
}

SYS_HANDLER(vm_stats)
{
	struct tlb_stats t;
	uint64_t w[KEEL_VM_STATS_BYTES / 8];

	tlb_stats_read(&p->space.stats, &t);
	w[0] = t.dispatch_count;
	w[1] = t.call_count;
	w[2] = t.ipi_count;
	w[3] = t.full_flush_count;
	w[4] = t.lazy_flush_count;
	w[5] = __atomic_load_n(&p->space.fault_count, __ATOMIC_RELAXED);
	return vm_pin_write(&a->pin[0], 0, w, sizeof(w));
}

/* [addr, addr + len) page-aligned, not wrapping, below the user top. */
static bool user_range_ok(uint64_t addr, uint64_t len)
{
	return IS_ALIGNED(addr, PAGE_SIZE) && IS_ALIGNED(len, PAGE_SIZE) && addr + len > addr &&
	       addr + len <= arch_user_top();
}

/* Where a kernel-chosen mapping of len bytes goes (a guard page after each), or 0. */
static uint64_t mmap_place(struct process *p, uint64_t len)
{
	unsigned long flags = spin_lock_irqsave(&p->lock);
	uint64_t at = p->mmap_next;

	if (len > KEEL_MMAP_END - at || KEEL_MMAP_END - at - len < PAGE_SIZE)
		at = 0;
	else
		p->mmap_next = at + len + PAGE_SIZE;
	spin_unlock_irqrestore(&p->lock, flags);
	return at;
}

SYS_HANDLER(mmap)
{
	uint64_t addr = a->val[0], len = ALIGN_UP(a->val[1], PAGE_SIZE);
	struct pt_prop prop;
	int rc = uvm_prot(a->val[2], &prop);

	if (rc)
		return rc;
	if (addr && (!IS_ALIGNED(addr, PAGE_SIZE) || addr < KEEL_MMAP_BASE ||
		     addr >= KEEL_MMAP_END || len > KEEL_MMAP_END - addr))
		return -EINVAL;
	if (!addr && !(addr = mmap_place(p, len)))
		return -ENOSPC;
	rc = uvm_map_fresh(&p->space, addr, len, prop, NULL);
	return rc ? rc : (int64_t)addr;
}

SYS_HANDLER(munmap)
{
	uint64_t addr = a->val[0], len = ALIGN_UP(a->val[1], PAGE_SIZE);

	if (!len || !user_range_ok(addr, len))
		return -EINVAL;
	return vm_space_unmap(&p->space, VA(addr), len, 0);
}

SYS_HANDLER(mprotect)
{
	uint64_t addr = a->val[0], len = ALIGN_UP(a->val[1], PAGE_SIZE);
	struct pt_prop prop;
	int rc = uvm_prot(a->val[2], &prop);

	if (rc)
		return rc;
	if (!len || !user_range_ok(addr, len))
		return -EINVAL;
	return vm_space_protect(&p->space, VA(addr), len, prop, 0);
}

SYS_HANDLER(thread_create)
{
	uint64_t entry = a->val[0], stack = a->val[2];

	if (entry >= arch_user_top() || !stack || stack > arch_user_top() || (stack & 7))
		return -EINVAL;
	return process_thread_create(p, entry, a->val[1], stack);
}

SYS_HANDLER(thread_exit)
{
	uthread_exit((int64_t)a->val[0]);
}

SYS_HANDLER(thread_join)
{
	int64_t value = 0;
	int rc = process_thread_join(p, (unsigned)a->val[0], &value);

	return rc ? rc : value;
}

SYS_HANDLER(futex_wait)
{
	return futex_wait(p, a->val[0], (uint32_t)a->val[1], a->val[2]);
}

SYS_HANDLER(futex_wake)
{
	return futex_wake(p, a->val[0], a->val[1]);
}

SYS_HANDLER(sleep)
{
	process_sleep_until(p, time_ns() + a->val[0] * NSEC_PER_MSEC);
	return 0;
}

/* True once some edit of s sleeps on a pin (its unpin queue has a sleeper). */
static bool pin_waited_for(struct vm_space *s)
{
	unsigned long flags = spin_lock_irqsave(&s->unpin_wq.lock);
	bool waiting = !list_is_empty(&s->unpin_wq.waiters);

	spin_unlock_irqrestore(&s->unpin_wq.lock, flags);
	return waiting;
}

#define PIN_HOLD_MAX_NS (5 * NSEC_PER_SEC)
#define PIN_HOLD_KEEP 64

SYS_HANDLER(pin_hold)
{
	uint64_t len = a->val[1], keep = MIN(len, (uint64_t)PIN_HOLD_KEEP);
	uint64_t deadline = time_ns() + PIN_HOLD_MAX_NS;
	uint8_t before[PIN_HOLD_KEEP], after[PIN_HOLD_KEEP];
	struct vm_pin again;
	bool same;
	int rc = vm_pin_read(&a->pin[0], 0, before, keep);

	while (!rc && !pin_waited_for(&p->space)) {
		if (time_ns() >= deadline || __atomic_load_n(&p->dying, __ATOMIC_ACQUIRE))
			return -ETIMEDOUT;
		process_sleep_until(p, time_ns() + NSEC_PER_MSEC);
	}
	/* the waiting edit has not taken effect: same bytes, same frames */
	rc = vm_pin_read(&a->pin[0], 0, after, keep);
	if (!rc)
		rc = sys_pin(p, a->val[0], len, VM_ACCESS_READ, &again);
	if (rc)
		return 0;
	same = !memcmp(before, after, keep) && again.page[0].v == a->pin[0].page[0].v;
	vm_space_unpin(&again);
	return same ? (int64_t)len : 0;
}
