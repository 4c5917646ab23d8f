/*
 * A process's memory (user.h): fresh pages owned by the space (image segments, mmap),
 * the demand-paged heap and stack, and the rights KEEL_PROT_* stand for. Everything
 * goes through vm_space: the same cursors, flushes and pins as every other space.
 *
 * Layout (include/uapi/syscalls.tab): the image in [USER_IMAGE_LO, KEEL_HEAP_BASE),
 * the heap at KEEL_HEAP_BASE, the mmap window, and the stack right below the user top
 * (arch_user_top: the last page of the lower half is never mapped) with one unmapped
 * guard page under it, outside every region, so running off the stack faults.
 */
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/string.h>
#include <keel/user.h>

#include "user.h"

static uint64_t uvm_stack_base(void)
{
	return arch_user_top() - KEEL_STACK_SIZE;
}

uint64_t uvm_stack_top(void)
{
	return arch_user_top();
}

int uvm_prot(uint64_t prot, struct pt_prop *out)
{
	uint16_t flags = PT_PROP_USER | PT_PROP_R;

	if (!(prot & KEEL_PROT_READ) || prot > 7)
		return -EINVAL;
	if (prot & KEEL_PROT_WRITE)
		flags |= PT_PROP_W;
	if (prot & KEEL_PROT_EXEC)
		flags |= PT_PROP_X;
	*out = PT_PROP(flags);
	return 0;
}

/* One fresh zeroed page at va with src[0, n) copied to byte `at` of it, owned by the
 * space (VM_FRAME_DEMAND: its leaf holds the only reference once ours is dropped). */
static int uvm_map_page(struct vm_space *s, uint64_t va, struct pt_prop prop, uint64_t at,
			const uint8_t *src, uint64_t n)
{
	struct frame *f = frame_alloc(0, FRAME_USER);
	int rc;

	if (!f)
		return -ENOMEM;
	if (n)
		memcpy((uint8_t *)frame_kva(f) + at, src, n);
	f->flags |= VM_FRAME_DEMAND;
	rc = vm_space_map(s, VA(va), PAGE_SIZE, frame_pa(f), prop);
	if (frame_put(f)) { /* the map failed: ours was the only reference */
		f->flags &= (uint16_t)~VM_FRAME_DEMAND;
		frame_free(f, 0);
	}
	return rc;
}

int uvm_map_fresh(struct vm_space *s, uint64_t va, uint64_t len, struct pt_prop prop,
		  const struct uvm_src *src)
{
	uint64_t done = 0;
	int rc = 0;

	for (; done < len && !rc; done += PAGE_SIZE) {
		/* the part of [src->at, src->at + src->len) inside this page */
		uint64_t lo = src ? MAX(src->at, done) : 0;
		uint64_t hi = src ? MIN(src->at + src->len, done + PAGE_SIZE) : 0;
		uint64_t n = hi > lo ? hi - lo : 0;

		rc = uvm_map_page(s, va + done, prop, lo - done,
				  n ? src->bytes + (lo - src->at) : NULL, n);
	}
	if (rc && done > PAGE_SIZE) { /* undo the pages mapped before the failing one */
		int undo = vm_space_unmap(s, VA(va), done - PAGE_SIZE, 0);

		(void)undo; /* fresh pages nobody pinned yet: nothing to wait for */
	}
	return rc;
}

int uvm_layout(struct vm_space *s)
{
	struct pt_prop rw = PT_PROP(PT_PROP_USER | PT_PROP_R | PT_PROP_W);
	int rc = vm_space_add_demand_region(s, VA(KEEL_HEAP_BASE), KEEL_HEAP_SIZE, rw);

	if (!rc)
		rc = vm_space_add_demand_region(s, VA(uvm_stack_base()), KEEL_STACK_SIZE, rw);
	return rc;
}
