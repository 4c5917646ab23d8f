/*
 * Address spaces (see vm_space.h): creation, activation, demand regions and the fault
 * handler, and the map/unmap/protect wrappers. Pinning is in pin.c. Knows the cursor
 * engine and the flusher, no x86 bit.
 *
 * Lock order: see the top of kernel/mm/pt_walk.c.
 */
#include <keel/check.h>
#include <keel/errno.h>
#include <keel/smp.h>

#include "vm_space.h"

/* ---- Leaf references: only on frames the space allocated (VM_FRAME_DEMAND) */

/* NULL (no metadata: device memory) is never a demand frame. */
static bool vm_frame_is_demand(const struct frame *f)
{
	return f && (f->type == FRAME_USER || f->type == FRAME_GUEST_RAM) &&
	       (f->flags & VM_FRAME_DEMAND);
}

/* Drops one reference on a demand frame, freeing it on the last. */
static void vm_frame_release(struct frame *f)
{
	if (frame_put(f)) {
		f->flags &= (uint16_t)~VM_FRAME_DEMAND;
		frame_free(f, 0);
	}
}

static void vm_leaf_get(void *ctx, paddr_t pa, unsigned level)
{
	struct frame *f = frame_lookup(pa);

	(void)ctx;
	(void)level;
	if (vm_frame_is_demand(f))
		frame_get(f);
}

static void vm_leaf_put(void *ctx, paddr_t pa, unsigned level)
{
	struct frame *f = frame_lookup(pa);

	(void)ctx;
	(void)level;
	if (vm_frame_is_demand(f))
		vm_frame_release(f);
}

static const struct pt_leaf_ops vm_leaf_ops = {
	.get = vm_leaf_get,
	.put = vm_leaf_put,
	.ctx = NULL,
};

/* ---- Tags of host spaces (PCIDs) */

/* [l] lock. Bit t of used: tag t belongs to a live space. Tag 0 is never handed out. */
static struct {
	spinlock_t lock;
	uint64_t used[VM_SPACE_TAG_COUNT_MAX / 64];
	uint64_t next; /* where the next search starts: freed tags rest a while */
} vm_host_tags = { .lock = SPINLOCK_INIT };

/* A free tag of 1 .. count - 1, or 0 (untagged) when the CPU has none or all are used. */
static uint64_t vm_tag_alloc(void)
{
	uint64_t count = arch_vm_space_tag_count(VM_SPACE_HOST_USER), tag = 0;

	CHECK(count <= VM_SPACE_TAG_COUNT_MAX);
	if (count < 2)
		return 0;
	spin_lock(&vm_host_tags.lock);
	for (uint64_t i = 0; i < count - 1 && !tag; i++) {
		uint64_t t = 1 + (vm_host_tags.next + i) % (count - 1);

		if (!(vm_host_tags.used[t / 64] & (1ull << (t % 64)))) {
			vm_host_tags.used[t / 64] |= 1ull << (t % 64);
			vm_host_tags.next = t; /* t + 1 next time */
			tag = t;
		}
	}
	spin_unlock(&vm_host_tags.lock);
	return tag;
}

/* Frees tag (0: nothing). Only after tlb_retire: no CPU caches it any more. */
static void vm_tag_free(uint64_t tag)
{
	if (!tag)
		return;
	spin_lock(&vm_host_tags.lock);
	CHECK(vm_host_tags.used[tag / 64] & (1ull << (tag % 64)));
	vm_host_tags.used[tag / 64] &= ~(1ull << (tag % 64));
	spin_unlock(&vm_host_tags.lock);
}

/*
 * -ENOTSUP if a leaf of s cannot carry prop: the format cannot express it, it is global
 * in a host user space (global translations are used whatever the current PCID, SDM
 * Vol 3A 4.10.2.4, so one space's page would show in every other), or it is not global
 * in the kernel table (a per-page flush drops a non-global entry under the current
 * PCID only, and kernel pages are reached under every PCID).
 */
static int vm_prop_check(const struct vm_space *s, struct pt_prop prop)
{
	uint64_t raw;
	bool global = prop.flags & PT_PROP_GLOBAL;

	if ((s->kind == VM_SPACE_HOST_USER && global) || (s->kind == VM_SPACE_KERNEL && !global))
		return -ENOTSUP;
	return s->table.fmt->encode_leaf(PA(0), prop, 1, &raw) ? -ENOTSUP : 0;
}

/* ---- Life cycle and activation */

int vm_space_init(struct vm_space *s, enum vm_space_kind kind, uint64_t tag)
{
	const struct pt_format *fmt = kind == VM_SPACE_HOST_USER ? pt_format_host_user()
				      : kind == VM_SPACE_KERNEL	 ? pt_format_host()
								 : pt_format_guest();
	int rc;

	if (tag && kind != VM_SPACE_GUEST_EPT)
		return -EINVAL;
	s->kind = kind;
	s->tag = tag;
	s->active = CPUMASK_NONE;
	s->cached = CPUMASK_NONE;
	s->flush_gen = 0;
	for (unsigned i = 0; i < MAX_CPUS; i++)
		s->synced_gen[i] = 0;
	s->stats = (struct tlb_stats){ 0 };
	s->fault_count = 0;
	s->unpin_seq = 0;
	waitq_init(&s->unpin_wq);
	spin_init(&s->region_lock);
	s->region_count = 0;
	/* kernel memory is not reference counted (and MMIO has no struct frame) */
	rc = pt_table_init(&s->table, fmt, kind == VM_SPACE_KERNEL ? NULL : &vm_leaf_ops);
	if (!rc && kind == VM_SPACE_HOST_USER)
		s->tag = vm_tag_alloc();
	return rc;
}

void vm_space_fini(struct vm_space *s)
{
	struct pt_flush_batch b;

	CHECK(s->kind != VM_SPACE_KERNEL);
	tlb_retire(s); /* before the nodes go: cached CPUs drop their walks into them */
	tlb_batch_init(&b, s);
	pt_table_fini(&s->table, &b);
	pt_flush_batch_finish(&b);
	if (s->kind == VM_SPACE_HOST_USER)
		vm_tag_free(s->tag); /* after tlb_retire: no CPU holds entries under it */
	s->tag = 0;
}

paddr_t vm_space_root_pa(const struct vm_space *s)
{
	return pt_table_root_pa(&s->table);
}

void vm_space_activate(struct vm_space *s)
{
	CHECK(s->kind != VM_SPACE_KERNEL); /* every CPU runs it, always */
	tlb_activate(s);
	arch_vm_space_load(s);
}

void vm_space_deactivate(struct vm_space *s)
{
	CHECK(cpumask_test(cpumask_read(&s->active), arch_cpu_id()));
	cpumask_clear_atomic(&s->active, arch_cpu_id());
}

/* ---- Ranges, regions, faults */

int vm_range_check(uint64_t addr, uint64_t len, bool aligned, uint64_t *end)
{
	*end = addr + len;
	if (len == 0 || *end <= addr) /* empty, or wraps (2^64 is outside every space) */
		return -EINVAL;
	if (aligned && (!IS_ALIGNED(addr, PAGE_SIZE) || !IS_ALIGNED(len, PAGE_SIZE)))
		return -EINVAL;
	return 0;
}

int vm_space_add_demand_region(struct vm_space *s, vaddr_t start, uint64_t len, struct pt_prop prop)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	uint64_t end;
	int rc = vm_range_check(start.v, len, true, &end);

	if (rc)
		return rc;
	/* faults must not discover that the format cannot express prop */
	rc = vm_prop_check(s, prop);
	if (rc)
		return rc;
	/* a cursor accepts exactly the ranges inside the space */
	tlb_batch_init(&b, s);
	rc = pt_cursor_begin(&c, &s->table, start, VA(end), &b);
	if (rc)
		return rc;
	pt_cursor_end(&c);
	pt_flush_batch_finish(&b);

	spin_lock(&s->region_lock);
	for (unsigned i = 0; i < s->region_count; i++) {
		if (start.v < s->region[i].end && s->region[i].start < end) {
			rc = -EEXIST;
			goto out;
		}
	}
	if (s->region_count == VM_SPACE_REGION_MAX) {
		rc = -ENOSPC;
		goto out;
	}
	s->region[s->region_count++] =
	    (struct vm_region){ .start = start.v, .end = end, .prop = prop };
out:
	spin_unlock(&s->region_lock);
	return rc;
}

/* Copies the region containing va into *out. Returns true if there is one. */
static bool vm_region_find(struct vm_space *s, uint64_t va, struct vm_region *out)
{
	bool found = false;

	spin_lock(&s->region_lock);
	for (unsigned i = 0; i < s->region_count && !found; i++) {
		if (va >= s->region[i].start && va < s->region[i].end) {
			*out = s->region[i];
			found = true;
		}
	}
	spin_unlock(&s->region_lock);
	return found;
}

/* Maps a fresh zeroed frame at va (unmapped) under c with prop; *pa gets its address. */
static int vm_demand_map(struct vm_space *s, struct pt_cursor *c, uint64_t va, struct pt_prop prop,
			 paddr_t *pa)
{
	enum frame_type type = s->kind == VM_SPACE_HOST_USER ? FRAME_USER : FRAME_GUEST_RAM;
	struct frame *f = frame_alloc(0, type);
	int rc;

	if (!f)
		return -ENOMEM;
	f->flags |= VM_FRAME_DEMAND; /* before the map, so the leaf takes a reference */
	rc = pt_cursor_jump(c, VA(va));
	if (!rc)
		rc = pt_cursor_map(c, frame_pa(f), PAGE_SIZE, prop);
	if (!rc) {
		*pa = frame_pa(f);
		__atomic_fetch_add(&s->fault_count, 1, __ATOMIC_RELAXED);
	}
	vm_frame_release(f); /* ours; the leaf keeps its own */
	return rc;
}

int vm_page_resolve(struct vm_space *s, struct pt_cursor *c, uint64_t va, unsigned access,
		    paddr_t *pa)
{
	struct pt_item it;
	struct vm_region r;
	int rc = pt_cursor_jump(c, VA(va));

	if (!rc)
		rc = pt_cursor_query(c, &it);
	if (rc)
		return -EFAULT;
	if (it.kind == PT_ITEM_LEAF) {
		if ((it.prop.flags & access) != access)
			return -EFAULT;
		*pa = PA(it.pa.v + (va - it.va.v));
		return 0;
	}
	if (!vm_region_find(s, va, &r) || (r.prop.flags & access) != access)
		return -EFAULT;
	return vm_demand_map(s, c, va, r.prop, pa);
}

int vm_space_handle_fault(struct vm_space *s, vaddr_t addr, unsigned access)
{
	uint64_t page = ALIGN_DOWN(addr.v, PAGE_SIZE);
	struct pt_flush_batch b;
	struct pt_cursor c;
	paddr_t pa;
	int rc;

	tlb_batch_init(&b, s);
	if (pt_cursor_begin(&c, &s->table, VA(page), VA(page + PAGE_SIZE), &b))
		return -EFAULT; /* outside the space */
	rc = vm_page_resolve(s, &c, page, access, &pa);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&b);
	return rc;
}

/* ---- map / unmap / protect */

int vm_space_map(struct vm_space *s, vaddr_t addr, uint64_t len, paddr_t pa, struct pt_prop prop)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	uint64_t end;
	int rc = vm_range_check(addr.v, len, true, &end);

	if (!rc)
		rc = vm_prop_check(s, prop);
	if (rc)
		return rc;
	tlb_batch_init(&b, s);
	rc = pt_cursor_begin(&c, &s->table, addr, VA(end), &b);
	if (rc)
		return rc;
	rc = pt_cursor_map_range(&c, len, pa, prop);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&b);
	return rc;
}

/*
 * Looks at every leaf in [start, end) under c: returns the first frame with a pin, or
 * NULL, and sets *hole if some page in the window is unmapped. Device memory has no
 * struct frame and cannot be pinned; the kernel space has no pins at all: only holes
 * are looked for there.
 */
static struct frame *vm_find_pinned(const struct vm_space *s, struct pt_cursor *c, uint64_t start,
				    uint64_t end, bool *hole)
{
	uint64_t pos = start;
	struct pt_item it;

	*hole = false;
	if (pt_cursor_jump(c, VA(start)))
		return NULL;
	while (pos < end && pt_cursor_find_next(c, end - pos, &it) == 0) {
		uint64_t lo = MAX(it.va.v, pos), hi = MIN(it.va.v + it.size, end);

		if (lo > pos)
			*hole = true;
		for (uint64_t va = lo; va < hi && s->kind != VM_SPACE_KERNEL; va += PAGE_SIZE) {
			struct frame *f = frame_lookup(PA(it.pa.v + (va - it.va.v)));

			if (f && __atomic_load_n(&f->pin_count, __ATOMIC_SEQ_CST))
				return f;
		}
		pos = hi;
		if (pos < end && pt_cursor_jump(c, VA(pos)))
			break;
	}
	if (pos < end)
		*hole = true;
	return NULL;
}

static void vm_protect_op(struct pt_prop *p, void *arg)
{
	const struct pt_prop *np = arg;
	uint16_t hw = PT_PROP_ACCESSED | PT_PROP_DIRTY;

	p->flags = (uint16_t)((np->flags & ~hw) | (p->flags & hw));
	p->cache = np->cache;
}

/*
 * Body of unmap (prop NULL) and protect: one cursor and one batch per attempt, retried
 * after each pin it met is dropped (or -EBUSY with VM_NOWAIT).
 */
static int vm_edit(struct vm_space *s, vaddr_t addr, uint64_t len, struct pt_prop *prop,
		   unsigned flags)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	struct frame *pinned;
	uint64_t end, seq;
	bool hole;
	int rc = vm_range_check(addr.v, len, true, &end);

	if (!rc && prop)
		rc = vm_prop_check(s, *prop);
	if (rc)
		return rc;
	for (;;) {
		tlb_batch_init(&b, s);
		rc = pt_cursor_begin(&c, &s->table, addr, VA(end), &b);
		if (rc)
			return rc;
		/* read before the pin counts: an unpin after it changes it (both SC) */
		seq = __atomic_load_n(&s->unpin_seq, __ATOMIC_SEQ_CST);
		pinned = vm_find_pinned(s, &c, addr.v, end, &hole);
		if (!pinned && prop && hole)
			rc = -EFAULT;
		else if (!pinned && !(rc = pt_cursor_jump(&c, addr)))
			rc = prop ? pt_cursor_protect(&c, len, vm_protect_op, prop)
				  : pt_cursor_unmap(&c, len);
		pt_cursor_end(&c);
		pt_flush_batch_finish(&b);
		if (!pinned)
			return rc;
		if (flags & VM_NOWAIT)
			return -EBUSY;
		vm_pin_wait(s, seq);
	}
}

int vm_space_unmap(struct vm_space *s, vaddr_t addr, uint64_t len, unsigned flags)
{
	return vm_edit(s, addr, len, NULL, flags);
}

int vm_space_protect(struct vm_space *s, vaddr_t addr, uint64_t len, struct pt_prop prop,
		     unsigned flags)
{
	return vm_edit(s, addr, len, &prop, flags);
}
