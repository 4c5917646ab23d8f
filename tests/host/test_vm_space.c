/*
 * Host tests of kernel/mm/vm_space.c, tlb.c and pin.c on the fake arch: flush batching
 * and targeting, lazy flushes by generation, deferred freeing after acknowledgements,
 * demand paging, pinning against unmap/protect, and that every frame comes back.
 * Fake CPUs: the main thread is CPU 0 and borrows other CPU ids to (de)activate.
 * Single-threaded; the threaded cases are in test_vm_space_mt.c.
 */
#include <string.h>

#include <keel/errno.h>

#include "fake_tlb.h"
#include "pt_test.h"

#define BASE 0x40000000ull /* 1 GiB: inside both the user half and EPT */
#define PG PAGE_SIZE

static struct vm_space S;
static uint64_t frames_before;

static struct pt_prop prop_rw(enum vm_space_kind k)
{
	return PT_PROP(k == VM_SPACE_HOST_USER ? PT_PROP_RW | PT_PROP_USER : PT_PROP_RW);
}

static struct pt_prop prop_ro(enum vm_space_kind k)
{
	return PT_PROP(k == VM_SPACE_HOST_USER ? PT_PROP_R | PT_PROP_USER : PT_PROP_R);
}

static void up(enum vm_space_kind k)
{
	frames_before = fake_frames_in_use();
	CHECK(vm_space_init(&S, k, k == VM_SPACE_GUEST_EPT ? 5 : 0) == 0);
	fake_tlb_reset();
}

/* Tears the space down; true if every frame came back. */
static bool down(void)
{
	vm_space_fini(&S);
	return fake_frames_in_use() == frames_before;
}

static void on_cpu(unsigned cpu, void (*fn)(struct vm_space *))
{
	fake_set_cpu(cpu);
	fn(&S);
	fake_set_cpu(0);
}

/* Demand region over [BASE, BASE + len) with prop; faults in `count` pages every `stride`. */
static void populate(uint64_t len, struct pt_prop prop, unsigned count, unsigned stride)
{
	CHECK(vm_space_add_demand_region(&S, VA(BASE), len, prop) == 0);
	for (unsigned i = 0; i < count; i++)
		CHECK(vm_space_handle_fault(&S, VA(BASE + (uint64_t)i * stride * PG),
					    VM_ACCESS_READ) == 0);
}

/* True if va is mapped (a pure look: no fault, no pin). */
static bool mapped(uint64_t va)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	struct pt_item it;

	pt_flush_batch_init(&b, NULL, NULL);
	CHECK(pt_cursor_begin(&c, &S.table, VA(va), VA(va + PG), &b) == 0);
	CHECK(pt_cursor_query(&c, &it) == 0);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&b);
	return it.kind == PT_ITEM_LEAF;
}

/* ---- flush batching and targeting */

struct batch_case {
	unsigned n, stride; /* pages unmapped; 1 contiguous, 2 every other page */
};

/*
 * CPU 0 (us) and 1 run the space, 2 ran it before, 3 never did. One unmap of n pages,
 * contiguous or sparse: exactly one dispatch with one cross-call to CPU 1 only; ranges
 * up to TLB_FLUSH_PAGES_MAX pages, a full flush past it; CPU 2 flushes everything when
 * it next activates, CPU 3 never.
 */
static void t_unmap_batching(const void *arg)
{
	const struct batch_case *bc = arg;
	unsigned n = bc->n, dispatches;
	bool all = n > TLB_FLUSH_PAGES_MAX;
	struct tlb_stats st;
	uint64_t in_use;

	up(VM_SPACE_HOST_USER);
	populate((uint64_t)n * bc->stride * PG, prop_rw(S.kind), n, bc->stride);
	on_cpu(1, vm_space_activate);
	on_cpu(2, vm_space_activate);
	on_cpu(2, vm_space_deactivate);
	vm_space_activate(&S);
	fake_tlb_reset();
	S.stats = (struct tlb_stats){ 0 };

	in_use = fake_frames_in_use();
	T_EQ(vm_space_unmap(&S, VA(BASE), (uint64_t)n * bc->stride * PG, 0), 0);
	tlb_stats_read(&S.stats, &st);
	T_EQ(st.dispatch_count, 1);
	dispatches = (unsigned)st.dispatch_count;
	T_EQ(st.call_count, dispatches);
	T_EQ(st.ipi_count, dispatches);
	T_EQ(fake_smp_call_count(), dispatches);
	T_ASSERT(cpumask_equal(fake_smp_asked_mask(), cpumask_of(1)));
	for (unsigned cpu = 0; cpu <= 1; cpu++) {
		T_EQ(fake_tlb_count(cpu, FAKE_TLB_ALL), all ? dispatches : 0);
		T_EQ(fake_tlb_count(cpu, FAKE_TLB_RANGE), all ? 0 : bc->stride == 1 ? 1 : n);
	}
	if (!all) { /* the ranges CPU 1 flushed are exactly the unmapped pages */
		uint64_t next = BASE, covered = 0;
		for (unsigned i = 0; i < fake_tlb_event_count(); i++) {
			struct fake_tlb_event e = fake_tlb_event_at(i);
			if (e.cpu != 1)
				continue;
			T_EQ(e.va, next);
			next = e.va + e.len + (bc->stride - 1) * PG;
			covered += e.len;
		}
		T_EQ(covered, (uint64_t)n * PG);
	}
	for (unsigned cpu = 2; cpu <= 3; cpu++)
		for (unsigned k = 0; k < 3; k++)
			T_EQ(fake_tlb_count(cpu, k), 0);
	T_ASSERT(fake_frames_in_use() <= in_use - n); /* the demand frames went back */

	on_cpu(2, vm_space_activate); /* lazy: it missed the flush */
	on_cpu(3, vm_space_activate); /* never cached it: nothing to flush */
	T_EQ(fake_tlb_count(2, FAKE_TLB_ALL), 1);
	T_EQ(fake_tlb_count(3, FAKE_TLB_ALL), 0);
	T_EQ(fake_tlb_count(3, FAKE_TLB_LOAD), 1);
	T_EQ(S.stats.lazy_flush_count, 1);
	on_cpu(2, vm_space_deactivate);
	on_cpu(2, vm_space_activate); /* no flush since: no second lazy flush */
	T_EQ(fake_tlb_count(2, FAKE_TLB_ALL), 1);
	for (unsigned cpu = 0; cpu <= 3; cpu++)
		on_cpu(cpu, vm_space_deactivate);
	fake_tlb_reset();
	T_ASSERT(down());
	/* teardown: every CPU that ran it flushes it (its tag may be reused), in one call */
	T_EQ(fake_smp_call_count(), 1);
	T_ASSERT(cpumask_equal(fake_smp_asked_mask(), cpumask_first_n(4)));
	for (unsigned cpu = 0; cpu <= 3; cpu++)
		T_EQ(fake_tlb_count(cpu, FAKE_TLB_ALL), 1);
}

/* A space nobody runs: no cross-call, no flush now; every later activation is lazy. */
static void t_unmap_idle_space_sends_nothing(const void *arg)
{
	(void)arg;
	up(VM_SPACE_HOST_USER);
	populate(4 * PG, prop_rw(S.kind), 4, 1);
	T_EQ(vm_space_unmap(&S, VA(BASE), 4 * PG, 0), 0);
	T_EQ(S.stats.dispatch_count, 1);
	T_EQ(fake_smp_call_count(), 0);
	T_EQ(fake_tlb_event_count(), 0);
	T_ASSERT(down());
}

/* Guest EPT spaces have no per-address flush: one full flush per CPU per dispatch. */
static void t_ept_unmap_flushes_all(const void *arg)
{
	(void)arg;
	up(VM_SPACE_GUEST_EPT);
	populate(4 * PG, prop_rw(S.kind), 2, 2);
	vm_space_activate(&S);
	on_cpu(1, vm_space_activate);
	fake_tlb_reset();
	T_EQ(vm_space_unmap(&S, VA(BASE), 4 * PG, 0), 0);
	T_EQ(fake_tlb_count(0, FAKE_TLB_ALL), 1);
	T_EQ(fake_tlb_count(1, FAKE_TLB_ALL), 1);
	T_EQ(fake_tlb_count(0, FAKE_TLB_RANGE) + fake_tlb_count(1, FAKE_TLB_RANGE), 0);
	T_EQ(fake_smp_call_count(), 1);
	vm_space_deactivate(&S);
	on_cpu(1, vm_space_deactivate);
	T_ASSERT(down());
}

struct capability_case {
	enum vm_space_kind kind;
	bool no_addr_invalidate;
};

/*
 * Whether a small unmap is flushed by range or whole follows the format's
 * no_addr_invalidate, whatever the space's kind: the space gets a copy of its own format
 * (same layout) with the flag set or cleared. A host space with the flag gets full
 * flushes; a guest EPT space without it gets ranges, which a kind test would refuse.
 */
static void t_range_flush_follows_format_capability(const void *arg)
{
	const struct capability_case *cc = arg;
	const struct pt_format *own;
	static struct pt_format variant;
	unsigned want_all = cc->no_addr_invalidate ? 1 : 0;

	up(cc->kind);
	own = S.table.fmt;
	variant = *own;
	variant.no_addr_invalidate = cc->no_addr_invalidate;
	S.table.fmt = &variant;
	populate(4 * PG, prop_rw(S.kind), 4, 1);
	vm_space_activate(&S);
	on_cpu(1, vm_space_activate);
	fake_tlb_reset();
	T_EQ(vm_space_unmap(&S, VA(BASE + PG), PG, 0), 0);
	for (unsigned cpu = 0; cpu <= 1; cpu++) {
		T_EQ(fake_tlb_count(cpu, FAKE_TLB_ALL), want_all);
		T_EQ(fake_tlb_count(cpu, FAKE_TLB_RANGE), 1 - want_all);
	}
	if (!want_all) { /* the range is the page, on both CPUs */
		for (unsigned i = 0; i < fake_tlb_event_count(); i++) {
			T_EQ(fake_tlb_event_at(i).va, BASE + PG);
			T_EQ(fake_tlb_event_at(i).len, PG);
		}
	}
	vm_space_deactivate(&S);
	on_cpu(1, vm_space_deactivate);
	S.table.fmt = own;
	T_ASSERT(down());
}

/*
 * CPU 0 ran the space and left it (it caches it, synced): an unmap from CPU 0 flushes
 * the range on CPU 0 at once and keeps it synced, so its next activation flushes
 * nothing. After a dispatch from CPU 1 it missed, it is no longer synced: the range is
 * left to the full flush at its next activation.
 */
static void t_unmap_on_caching_cpu_flushes_range_now(const void *arg)
{
	(void)arg;
	up(VM_SPACE_HOST_USER);
	populate(8 * PG, prop_rw(S.kind), 8, 1);
	vm_space_activate(&S);
	vm_space_deactivate(&S);
	fake_tlb_reset();
	T_EQ(vm_space_unmap(&S, VA(BASE), 2 * PG, 0), 0);
	T_EQ(fake_tlb_count(0, FAKE_TLB_RANGE), 1);
	T_EQ(fake_smp_call_count(), 0);
	vm_space_activate(&S);
	vm_space_deactivate(&S);
	T_EQ(fake_tlb_count(0, FAKE_TLB_ALL), 0);
	T_EQ(S.stats.lazy_flush_count, 0);

	fake_set_cpu(1);
	T_EQ(vm_space_unmap(&S, VA(BASE + 2 * PG), PG, 0), 0); /* CPU 0 misses this one */
	fake_set_cpu(0);
	fake_tlb_reset();
	T_EQ(vm_space_unmap(&S, VA(BASE + 3 * PG), PG, 0), 0);
	T_EQ(fake_tlb_count(0, FAKE_TLB_RANGE), 0);
	vm_space_activate(&S);
	vm_space_deactivate(&S);
	T_EQ(fake_tlb_count(0, FAKE_TLB_ALL), 1);
	T_EQ(S.stats.lazy_flush_count, 1);
	T_ASSERT(down());
}

/* Host spaces get distinct tags 1 .. count-1, untagged when none is free; a tag comes
 * back after fini; the caller cannot choose one. */
static void t_host_tags_allocated_and_reused(const void *arg)
{
	struct vm_space sp[4], extra;

	(void)arg;
	fake_tlb_set_tag_count(4);
	for (unsigned i = 0; i < 4; i++)
		T_EQ(vm_space_init(&sp[i], VM_SPACE_HOST_USER, 0), 0);
	T_ASSERT(sp[0].tag && sp[1].tag && sp[2].tag && sp[0].tag < 4 && sp[1].tag < 4 &&
		 sp[2].tag < 4);
	T_ASSERT(sp[0].tag != sp[1].tag && sp[1].tag != sp[2].tag && sp[0].tag != sp[2].tag);
	T_EQ(sp[3].tag, 0); /* all in use: untagged */
	uint64_t freed = sp[1].tag;
	vm_space_fini(&sp[1]);
	T_EQ(vm_space_init(&extra, VM_SPACE_HOST_USER, 0), 0);
	T_EQ(extra.tag, freed);
	T_EQ(vm_space_init(&sp[1], VM_SPACE_HOST_USER, 7), -EINVAL);
	vm_space_fini(&extra);
	for (unsigned i = 0; i < 4; i++)
		if (i != 1)
			vm_space_fini(&sp[i]);
	fake_tlb_set_tag_count(VM_SPACE_TAG_COUNT_MAX);
}

/* vm_space_fini refuses the kernel kind (never torn down in the kernel): free by hand. */
static void kernel_space_free(struct vm_space *k)
{
	struct pt_flush_batch b;

	tlb_batch_init(&b, k);
	pt_table_fini(&k->table, &b);
	pt_flush_batch_finish(&b);
}

/* Global leaves: refused in host user spaces (shared by every PCID), required in the
 * kernel table (its per-page flushes reach other PCIDs through the global bit only). */
static void t_global_leaves_checked_per_kind(const void *arg)
{
	struct vm_space k;
	struct pt_prop g = PT_PROP(PT_PROP_RW | PT_PROP_GLOBAL);

	(void)arg;
	up(VM_SPACE_HOST_USER);
	T_EQ(vm_space_map(&S, VA(BASE), PG, T_PA(0),
			  PT_PROP(PT_PROP_RW | PT_PROP_USER | PT_PROP_GLOBAL)),
	     -ENOTSUP);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE), PG, g), -ENOTSUP);
	T_ASSERT(down());
	T_EQ(vm_space_init(&k, VM_SPACE_KERNEL, 0), 0);
	T_EQ(vm_space_map(&k, VA(0xffff900000000000ull), PG, T_PA(0), PT_PROP(PT_PROP_RW)),
	     -ENOTSUP);
	T_EQ(vm_space_map(&k, VA(0xffff900000000000ull), PG, T_PA(0), g), 0);
	T_EQ(vm_space_unmap(&k, VA(0xffff900000000000ull), PG, 0), 0);
	kernel_space_free(&k);
}

/*
 * The kernel table is run by every online CPU: one range edit is flushed page by page
 * on all of them with one cross-call, without any activation; removing its nodes makes
 * the flush full (other tags' paging-structure caches).
 */
static void t_kernel_space_flushes_every_online_cpu(const void *arg)
{
	struct vm_space k;
	struct pt_prop g = PT_PROP(PT_PROP_RW | PT_PROP_GLOBAL);
	uint64_t va = 0xffff900000000000ull;

	(void)arg;
	T_EQ(vm_space_init(&k, VM_SPACE_KERNEL, 0), 0);
	T_EQ(vm_space_map(&k, VA(va), 4 * PG, T_PA(0), g), 0);
	fake_tlb_reset();
	T_EQ(vm_space_protect(&k, VA(va), PG, PT_PROP(PT_PROP_R | PT_PROP_GLOBAL), 0), 0);
	T_EQ(fake_smp_call_count(), 1);
	T_ASSERT(cpumask_equal(fake_smp_asked_mask(),
			       cpumask_andnot(cpumask_first_n(FAKE_TLB_CPUS), cpumask_of(0))));
	for (unsigned cpu = 0; cpu < FAKE_TLB_CPUS; cpu++) {
		T_EQ(fake_tlb_count(cpu, FAKE_TLB_RANGE), 1);
		T_EQ(fake_tlb_count(cpu, FAKE_TLB_ALL), 0);
	}
	fake_tlb_reset();
	T_EQ(vm_space_unmap(&k, VA(ALIGN_DOWN(va, SIZE_1G)), SIZE_1G, 0), 0); /* frees nodes */
	for (unsigned cpu = 0; cpu < FAKE_TLB_CPUS; cpu++)
		T_EQ(fake_tlb_count(cpu, FAKE_TLB_ALL), 1);
	kernel_space_free(&k);
}

/* ---- no frame freed before every acknowledgement */

struct ack_probe {
	struct frame *f;
	unsigned acks, acks_with_frame_live;
};

static void ack_probe_hook(unsigned cpu, void *ctx)
{
	struct ack_probe *p = ctx;

	(void)cpu;
	p->acks++;
	p->acks_with_frame_live += p->f->type == FRAME_USER && p->f->refcount == 1;
}

static void t_frame_freed_only_after_all_acks(const void *arg)
{
	struct ack_probe probe = { 0 };
	struct vm_pin pin;

	(void)arg;
	up(VM_SPACE_HOST_USER);
	populate(PG, prop_rw(S.kind), 1, 1);
	T_EQ(vm_space_pin(&S, VA(BASE), PG, VM_ACCESS_READ, &pin), 0);
	probe.f = frame_of(pin.page[0]);
	vm_space_unpin(&pin);
	for (unsigned cpu = 1; cpu <= 3; cpu++)
		on_cpu(cpu, vm_space_activate);
	fake_smp_set_ack_hook(ack_probe_hook, &probe);
	uint64_t in_use = fake_frames_in_use();
	T_EQ(vm_space_unmap(&S, VA(BASE), PG, 0), 0);
	T_EQ(probe.acks, 3);
	T_EQ(probe.acks_with_frame_live, 3); /* still allocated and mapped's reference held */
	T_EQ(probe.f->type, FRAME_FREE);     /* and freed once the call returned */
	T_EQ(fake_frames_in_use(), in_use - 1);
	for (unsigned cpu = 1; cpu <= 3; cpu++)
		on_cpu(cpu, vm_space_deactivate);
	T_ASSERT(down());
}

/* ---- fault handler */

static void t_fault_maps_exactly_touched_pages(const void *arg)
{
	const enum vm_space_kind *k = arg;

	up(*k);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE), 16 * PG, prop_rw(*k)), 0);
	T_EQ(vm_space_handle_fault(&S, VA(BASE + 3 * PG + 123), VM_ACCESS_WRITE), 0);
	T_EQ(vm_space_handle_fault(&S, VA(BASE + 9 * PG), VM_ACCESS_READ), 0);
	T_EQ(vm_space_handle_fault(&S, VA(BASE + 9 * PG + 8), VM_ACCESS_READ), 0); /* again */
	T_EQ(S.fault_count, 2);
	for (unsigned i = 0; i < 16; i++)
		T_EQ(mapped(BASE + i * PG), i == 3 || i == 9);
	T_ASSERT(down());
}

static void t_fault_outside_region_efault(const void *arg)
{
	(void)arg;
	up(VM_SPACE_HOST_USER);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE), 4 * PG, prop_ro(S.kind)), 0);
	T_EQ(vm_space_handle_fault(&S, VA(BASE + 4 * PG), VM_ACCESS_READ), -EFAULT);
	T_EQ(vm_space_handle_fault(&S, VA(BASE - 1), VM_ACCESS_READ), -EFAULT);
	T_EQ(vm_space_handle_fault(&S, VA(BASE), VM_ACCESS_WRITE), -EFAULT);	  /* read-only */
	T_EQ(vm_space_handle_fault(&S, VA(1ull << 47), VM_ACCESS_READ), -EFAULT); /* upper half */
	T_EQ(vm_space_handle_fault(&S, VA(~0ull), VM_ACCESS_READ), -EFAULT);
	T_EQ(S.fault_count, 0);
	T_EQ(vm_space_handle_fault(&S, VA(BASE), VM_ACCESS_READ | VM_ACCESS_USER), 0);
	T_EQ(vm_space_handle_fault(&S, VA(BASE), VM_ACCESS_WRITE), -EFAULT); /* leaf is RO */
	T_ASSERT(down());
}

static void t_demand_region_rejects_bad_ranges(const void *arg)
{
	(void)arg;
	up(VM_SPACE_HOST_USER);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE), 0, prop_rw(S.kind)), -EINVAL);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE + 1), PG, prop_rw(S.kind)), -EINVAL);
	T_EQ(vm_space_add_demand_region(&S, VA(~0ull << 12), 2 * PG, prop_rw(S.kind)), -EINVAL);
	T_EQ(vm_space_add_demand_region(&S, VA(1ull << 47), PG, prop_rw(S.kind)), -EINVAL);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE), PG, PT_PROP(PT_PROP_W)), -ENOTSUP);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE), 4 * PG, prop_rw(S.kind)), 0);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE + 3 * PG), 4 * PG, prop_rw(S.kind)), -EEXIST);
	for (unsigned i = 1; i < VM_SPACE_REGION_MAX; i++)
		T_EQ(vm_space_add_demand_region(&S, VA(BASE + (4 + i) * PG), PG, prop_rw(S.kind)),
		     0);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE + 64 * PG), PG, prop_rw(S.kind)), -ENOSPC);
	T_ASSERT(down());
}

/* Demand frames are zeroed and typed for the space's kind. */
static void t_fault_frame_zeroed_and_typed(const void *arg)
{
	const enum vm_space_kind *k = arg;
	struct vm_pin pin;
	uint8_t buf[64], zero[64] = { 0 };

	up(*k);
	populate(PG, prop_rw(*k), 1, 1);
	T_EQ(vm_space_pin(&S, VA(BASE + 100), 64, VM_ACCESS_READ, &pin), 0);
	T_EQ(vm_pin_read(&pin, 0, buf, sizeof(buf)), 0);
	T_ASSERT(memcmp(buf, zero, sizeof(buf)) == 0);
	T_EQ(frame_of(pin.page[0])->type, *k == VM_SPACE_HOST_USER ? FRAME_USER : FRAME_GUEST_RAM);
	vm_space_unpin(&pin);
	T_ASSERT(down());
}

/* ---- pinning */

static void t_pin_blocks_unmap_nowait(const void *arg)
{
	struct vm_pin pin;

	(void)arg;
	up(VM_SPACE_HOST_USER);
	populate(4 * PG, prop_rw(S.kind), 4, 1);
	T_EQ(vm_space_pin(&S, VA(BASE + PG + 10), PG, VM_ACCESS_WRITE, &pin), 0);
	T_EQ(pin.page_count, 2);
	T_EQ(vm_space_unmap(&S, VA(BASE), 4 * PG, VM_NOWAIT), -EBUSY);
	T_EQ(vm_space_unmap(&S, VA(BASE + 2 * PG), PG, VM_NOWAIT), -EBUSY);
	T_EQ(S.stats.dispatch_count, 0);
	for (unsigned i = 0; i < 4; i++)
		T_ASSERT(mapped(BASE + i * PG)); /* nothing removed, not even unpinned pages */
	T_EQ(vm_space_unmap(&S, VA(BASE + 3 * PG), PG, VM_NOWAIT), 0); /* not pinned */
	T_ASSERT(!mapped(BASE + 3 * PG));
	vm_space_unpin(&pin);
	T_EQ(vm_space_unmap(&S, VA(BASE), 4 * PG, VM_NOWAIT), 0);
	T_ASSERT(!mapped(BASE + PG));
	T_ASSERT(down());
}

static void t_protect_meets_pin_busy(const void *arg)
{
	struct vm_pin pin;
	struct vm_pin w;

	(void)arg;
	up(VM_SPACE_HOST_USER);
	populate(2 * PG, prop_rw(S.kind), 2, 1);
	T_EQ(vm_space_pin(&S, VA(BASE), 8, VM_ACCESS_READ, &pin), 0);
	T_EQ(vm_space_protect(&S, VA(BASE), 2 * PG, prop_ro(S.kind), VM_NOWAIT), -EBUSY);
	T_EQ(vm_space_pin(&S, VA(BASE + PG), 8, VM_ACCESS_WRITE, &w), 0); /* still writable */
	vm_space_unpin(&w);
	vm_space_unpin(&pin);
	T_EQ(vm_space_protect(&S, VA(BASE), 2 * PG, prop_ro(S.kind), VM_NOWAIT), 0);
	T_EQ(vm_space_pin(&S, VA(BASE + PG), 8, VM_ACCESS_WRITE, &w), -EFAULT);
	T_EQ(vm_space_protect(&S, VA(BASE), 3 * PG, prop_rw(S.kind), 0), -EFAULT); /* hole */
	T_EQ(vm_space_pin(&S, VA(BASE), 8, VM_ACCESS_WRITE, &w), -EFAULT);	   /* unchanged */
	T_ASSERT(down());
}

static void t_pin_hole_efault(const void *arg)
{
	struct vm_pin pin;
	struct frame *f0;

	(void)arg;
	up(VM_SPACE_HOST_USER);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE), PG, prop_rw(S.kind)), 0);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE + 2 * PG), PG, prop_rw(S.kind)), 0);
	T_EQ(vm_space_handle_fault(&S, VA(BASE), VM_ACCESS_READ), 0);
	T_EQ(vm_space_pin(&S, VA(BASE), PG, VM_ACCESS_READ, &pin), 0);
	f0 = frame_of(pin.page[0]);
	vm_space_unpin(&pin);
	/* page 1 is in no region and unmapped */
	T_EQ(vm_space_pin(&S, VA(BASE), 3 * PG, VM_ACCESS_READ, &pin), -EFAULT);
	T_EQ(f0->pin_count, 0);
	T_EQ(vm_space_unmap(&S, VA(BASE), PG, VM_NOWAIT), 0); /* no pin left behind */
	T_ASSERT(down());
}

static void t_pin_faults_in_demand_region(const void *arg)
{
	const enum vm_space_kind *k = arg;
	struct vm_pin pin;
	char msg[] = "hypercall buffer";
	char back[sizeof(msg)];
	uint64_t contig;

	up(*k);
	T_EQ(vm_space_add_demand_region(&S, VA(BASE), 8 * PG, prop_rw(*k)), 0);
	T_EQ(vm_space_pin(&S, VA(BASE + PG - 5), sizeof(msg), VM_ACCESS_WRITE, &pin), 0);
	T_EQ(S.fault_count, 2);
	T_EQ(pin.page_count, 2);
	T_ASSERT(vm_pin_kva(&pin, 0, &contig) != NULL);
	T_ASSERT(contig == 5 || contig == sizeof(msg)); /* two frames, maybe adjacent */
	T_EQ(vm_pin_write(&pin, 0, msg, sizeof(msg)), 0);
	T_EQ(vm_pin_write(&pin, 1, msg, sizeof(msg)), -EINVAL);
	vm_space_unpin(&pin);
	T_EQ(vm_space_pin(&S, VA(BASE + PG - 5), sizeof(msg), VM_ACCESS_READ, &pin), 0);
	T_EQ(S.fault_count, 2); /* already there */
	T_EQ(vm_pin_read(&pin, 0, back, sizeof(back)), 0);
	T_ASSERT(memcmp(msg, back, sizeof(msg)) == 0);
	vm_space_unpin(&pin);
	T_ASSERT(mapped(BASE) && mapped(BASE + PG) && !mapped(BASE + 2 * PG));
	T_ASSERT(down());
}

static void t_pin_write_on_readonly_efault(const void *arg)
{
	struct vm_pin pin;

	(void)arg;
	up(VM_SPACE_HOST_USER);
	populate(2 * PG, prop_ro(S.kind), 2, 1);
	T_EQ(vm_space_pin(&S, VA(BASE), 2 * PG, VM_ACCESS_WRITE, &pin), -EFAULT);
	T_EQ(vm_space_unmap(&S, VA(BASE), 2 * PG, VM_NOWAIT), 0); /* nothing stayed pinned */
	/* a read-only demand region is not faulted in for a write either */
	T_EQ(vm_space_pin(&S, VA(BASE), PG, VM_ACCESS_WRITE, &pin), -EFAULT);
	T_EQ(S.fault_count, 2);
	T_ASSERT(down());
}

static void t_pin_bad_ranges_einval(const void *arg)
{
	struct vm_pin pin;

	(void)arg;
	up(VM_SPACE_HOST_USER);
	populate(PG, prop_rw(S.kind), 1, 1);
	T_EQ(vm_space_pin(&S, VA(BASE), 0, VM_ACCESS_READ, &pin), -EINVAL);
	T_EQ(vm_space_pin(&S, VA(BASE), ~0ull, VM_ACCESS_READ, &pin), -EINVAL);
	T_EQ(vm_space_pin(&S, VA(~0ull - 10), 11, VM_ACCESS_READ, &pin), -EINVAL); /* to 2^64 */
	T_EQ(vm_space_pin(&S, VA(~0ull - 10), 20, VM_ACCESS_READ, &pin), -EINVAL); /* wraps */
	T_EQ(vm_space_pin(&S, VA(1ull << 47), 8, VM_ACCESS_READ, &pin), -EINVAL);
	T_EQ(vm_space_pin(&S, VA((1ull << 47) - 8), 16, VM_ACCESS_READ, &pin), -EINVAL);
	T_EQ(vm_space_pin(&S, VA(BASE), (VM_PIN_PAGES_MAX + 1) * PG, VM_ACCESS_READ, &pin), -E2BIG);
	T_EQ(vm_space_unmap(&S, VA(BASE), 0, 0), -EINVAL);
	T_EQ(vm_space_unmap(&S, VA(BASE + 1), PG, 0), -EINVAL);
	T_EQ(vm_space_unmap(&S, VA(~0ull << 12), 2 * PG, 0), -EINVAL);
	T_EQ(vm_space_protect(&S, VA(1ull << 47), PG, prop_ro(S.kind), 0), -EINVAL);
	T_EQ(vm_space_map(&S, VA(BASE), PG, PA(FAKE_PA_BASE), prop_rw(S.kind)), -EEXIST);
	T_ASSERT(mapped(BASE));
	T_ASSERT(down());
}

/* A pin larger than the inline array uses a frame for its addresses; it comes back. */
static void t_pin_large_range(const void *arg)
{
	struct vm_pin pin;
	uint64_t in_use;

	(void)arg;
	up(VM_SPACE_HOST_USER);
	populate(100 * PG, prop_rw(S.kind), 0, 1);
	T_EQ(vm_space_pin(&S, VA(BASE), 100 * PG, VM_ACCESS_WRITE, &pin), 0);
	T_EQ(pin.page_count, 100);
	in_use = fake_frames_in_use();
	vm_space_unpin(&pin);
	T_EQ(fake_frames_in_use(), in_use - 1);
	T_EQ(vm_space_unmap(&S, VA(BASE), 100 * PG, VM_NOWAIT), 0);
	T_ASSERT(down());
}

/* ---- map wrapper with caller-owned memory */

static void t_map_caller_memory_huge_and_pin(const void *arg)
{
	struct frame *blk = frame_alloc(9, FRAME_GUEST_RAM);
	struct vm_pin pin;
	uint64_t contig;

	(void)arg;
	T_ASSERT(blk);
	up(VM_SPACE_GUEST_EPT);
	T_EQ(vm_space_map(&S, VA(SIZE_2M * 8), SIZE_2M, frame_pa(blk), prop_rw(S.kind)), 0);
	T_EQ(vm_space_pin(&S, VA(SIZE_2M * 8 + PG), 3 * PG, VM_ACCESS_WRITE, &pin), 0);
	T_ASSERT(vm_pin_kva(&pin, 0, &contig) == (char *)frame_kva(blk) + PG);
	T_EQ(contig, 3 * PG);
	T_EQ(vm_space_unmap(&S, VA(SIZE_2M * 8), SIZE_2M, VM_NOWAIT), -EBUSY);
	vm_space_unpin(&pin);
	T_EQ(vm_space_unmap(&S, VA(SIZE_2M * 8), SIZE_2M, VM_NOWAIT), 0);
	T_EQ(blk->refcount, 1); /* the space held no reference on caller memory */
	vm_space_fini(&S);
	frame_free(blk, 9);
	T_EQ(fake_frames_in_use(), frames_before - 512);
}

/* Teardown with mappings and demand frames left returns every frame. */
/*
 * Device memory (no struct frame) in a host and a guest space: map, query, protect,
 * unmap with flushes, no reference taken, pinning refused with -EFAULT and the pages
 * around it still pinnable. Before MMIO support every step looked up frame metadata
 * that device memory does not have.
 */
static void t_mmio_map_unmap_no_pin(const void *arg)
{
	const enum vm_space_kind *k = arg;
	struct pt_prop uc = prop_rw(*k), ro;
	paddr_t mmio = T_PA(0xfee00000ull); /* far outside the fake RAM */
	struct vm_pin pin;
	struct frame *f;

	uc.cache = PT_CACHE_UC;
	up(*k);
	T_EQ(frame_lookup(mmio), NULL);
	T_EQ(vm_space_map(&S, VA(BASE), 4 * PG, mmio, uc), 0);
	T_ASSERT(mapped(BASE) && mapped(BASE + 3 * PG));
	T_EQ(vm_space_pin(&S, VA(BASE + PG + 8), 16, VM_ACCESS_READ, &pin), -EFAULT);
	f = frame_alloc(0, k[0] == VM_SPACE_HOST_USER ? FRAME_USER : FRAME_GUEST_RAM);
	T_ASSERT(f);
	T_EQ(vm_space_map(&S, VA(BASE + 4 * PG), PG, frame_pa(f), prop_rw(*k)), 0);
	/* a pin that reaches from RAM into device memory is refused whole */
	T_EQ(vm_space_pin(&S, VA(BASE + 4 * PG - 8), 16, VM_ACCESS_READ, &pin), -EFAULT);
	T_EQ(f->pin_count, 0u);
	T_EQ(vm_space_pin(&S, VA(BASE + 4 * PG), 16, VM_ACCESS_READ, &pin), 0);
	vm_space_unpin(&pin);
	ro = prop_ro(*k);
	ro.cache = PT_CACHE_UC;
	T_EQ(vm_space_protect(&S, VA(BASE), 4 * PG, ro, 0), 0);
	T_EQ(vm_space_unmap(&S, VA(BASE), 5 * PG, 0), 0);
	T_ASSERT(!mapped(BASE) && !mapped(BASE + 4 * PG));
	T_EQ(f->refcount, 1u); /* the space never took one on caller memory */
	frame_free(f, 0);
	T_ASSERT(down());
}

static void t_fini_returns_every_frame(const void *arg)
{
	(void)arg;
	up(VM_SPACE_GUEST_EPT);
	populate(SIZE_2M * 2, prop_rw(S.kind), 600, 1);
	vm_space_activate(&S);
	vm_space_deactivate(&S);
	T_ASSERT(fake_frames_in_use() > frames_before + 600);
	T_ASSERT(down());
}

static uint64_t frames_at_start;

static void t_every_frame_returned(const void *arg)
{
	(void)arg;
	T_EQ(fake_frames_in_use(), frames_at_start);
}

static const struct capability_case capability_cases[] = {
	{ VM_SPACE_HOST_USER, true },
	{ VM_SPACE_HOST_USER, false },
	{ VM_SPACE_GUEST_EPT, true },
	{ VM_SPACE_GUEST_EPT, false },
};

static const struct batch_case batch_cases[] = {
	{ 1, 2 },
	{ 8, 2 },
	{ TLB_FLUSH_PAGES_MAX, 2 },
	{ TLB_FLUSH_PAGES_MAX + 1, 2 },
	{ 33, 2 },
	{ 512, 2 },
	{ 1, 1 },
	{ 8, 1 },
	{ TLB_FLUSH_PAGES_MAX, 1 },
	{ TLB_FLUSH_PAGES_MAX + 1, 1 },
	{ 33, 1 },
	{ 512, 1 },
};

int main(void)
{
	static const enum vm_space_kind host = VM_SPACE_HOST_USER, ept = VM_SPACE_GUEST_EPT;
	char name[96];

	fake_arch_init();
	frames_at_start = fake_frames_in_use();
	for (unsigned i = 0; i < ARRAY_SIZE(batch_cases); i++) {
		snprintf(name, sizeof(name), "unmap_%u_%s_pages_exactly_one_dispatch",
			 batch_cases[i].n, batch_cases[i].stride == 1 ? "contiguous" : "sparse");
		tap_run(name, t_unmap_batching, &batch_cases[i]);
	}
	tap_run("unmap_idle_space_sends_nothing", t_unmap_idle_space_sends_nothing, NULL);
	tap_run("ept_unmap_flushes_all", t_ept_unmap_flushes_all, NULL);
	for (unsigned i = 0; i < ARRAY_SIZE(capability_cases); i++) {
		const struct capability_case *cc = &capability_cases[i];

		snprintf(name, sizeof(name), "range_flush_follows_format_capability_%s_%s",
			 cc->kind == VM_SPACE_HOST_USER ? "host" : "ept",
			 cc->no_addr_invalidate ? "whole_only" : "per_address");
		tap_run(name, t_range_flush_follows_format_capability, cc);
	}
	tap_run("unmap_on_caching_cpu_flushes_range_now", t_unmap_on_caching_cpu_flushes_range_now,
		NULL);
	tap_run("host_tags_allocated_and_reused", t_host_tags_allocated_and_reused, NULL);
	tap_run("global_leaves_checked_per_kind", t_global_leaves_checked_per_kind, NULL);
	tap_run("kernel_space_flushes_every_online_cpu", t_kernel_space_flushes_every_online_cpu,
		NULL);
	tap_run("frame_freed_only_after_all_acks", t_frame_freed_only_after_all_acks, NULL);
	tap_run("fault_maps_exactly_touched_pages_host", t_fault_maps_exactly_touched_pages, &host);
	tap_run("fault_maps_exactly_touched_pages_ept", t_fault_maps_exactly_touched_pages, &ept);
	tap_run("fault_outside_region_efault", t_fault_outside_region_efault, NULL);
	tap_run("demand_region_rejects_bad_ranges", t_demand_region_rejects_bad_ranges, NULL);
	tap_run("fault_frame_zeroed_and_typed_host", t_fault_frame_zeroed_and_typed, &host);
	tap_run("fault_frame_zeroed_and_typed_ept", t_fault_frame_zeroed_and_typed, &ept);
	tap_run("pin_blocks_unmap_nowait", t_pin_blocks_unmap_nowait, NULL);
	tap_run("protect_meets_pin_busy", t_protect_meets_pin_busy, NULL);
	tap_run("pin_hole_efault_no_pin_left", t_pin_hole_efault, NULL);
	tap_run("pin_faults_in_demand_region_host", t_pin_faults_in_demand_region, &host);
	tap_run("pin_faults_in_demand_region_ept", t_pin_faults_in_demand_region, &ept);
	tap_run("pin_write_on_readonly_efault", t_pin_write_on_readonly_efault, NULL);
	tap_run("pin_bad_ranges_einval", t_pin_bad_ranges_einval, NULL);
	tap_run("pin_large_range", t_pin_large_range, NULL);
	tap_run("map_caller_memory_huge_and_pin", t_map_caller_memory_huge_and_pin, NULL);
	tap_run("mmio_map_unmap_no_pin_host", t_mmio_map_unmap_no_pin, &host);
	tap_run("mmio_map_unmap_no_pin_ept", t_mmio_map_unmap_no_pin, &ept);
	tap_run("fini_returns_every_frame", t_fini_returns_every_frame, NULL);
	tap_run("every_frame_returned", t_every_frame_returned, NULL);
	return tap_finish();
}
