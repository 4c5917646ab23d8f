/*
 * vm_space on real x86-64 paging: a host space built by the cursor engine is loaded
 * into CR3, its memory is touched through its own addresses, and unmapping it makes the
 * next access fault, on this CPU and, through the TLB shootdown, on another CPU that
 * had the translation cached. The formats follow the CPU's paging features (1 GiB
 * pages, NX), which the Bochs models of the tlb-* test layers lack in part.
 */
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/ktest.h>
#include <keel/pt_format.h>
#include <keel/smp.h>
#include <mm/pt.h>
#include <mm/tlb.h>
#include <mm/vm_space.h>

#include "kmap.h"

#define TEST_VA 0x400000ull
#define USER_RW PT_PROP(PT_PROP_R | PT_PROP_W | PT_PROP_USER)

/* Reads *va under a catch: 0 and the value, or the vector + 1 it raised. */
static int read_probe(uint64_t va, uint64_t *val, uint64_t *cr2)
{
	struct trap_catch c;
	int r = trap_catch(&c);
	if (r == 0) {
		*val = *(volatile uint64_t *)va;
		trap_uncatch();
		return 0;
	}
	*cr2 = c.cr2;
	return r;
}

KTEST(vm_space_host_map_touch_unmap_faults)
{
	struct vm_space s;
	struct frame *f = frame_alloc(0, FRAME_USER);
	KT_ASSERT(f);
	*(volatile uint64_t *)frame_kva(f) = 0x1234abcd;
	KT_ASSERT_EQ(vm_space_init(&s, VM_SPACE_HOST_USER, 0), 0);
	KT_ASSERT_EQ(vm_space_map(&s, VA(TEST_VA), PAGE_SIZE, frame_pa(f), USER_RW), 0);
	vm_space_activate(&s);
	uint64_t root = vm_space_root_pa(&s).v;
	uint64_t val = 0, cr2 = 0;
	int r1 = read_probe(TEST_VA, &val, &cr2);
	*(volatile uint64_t *)(TEST_VA + 8) = 77; /* a write through the space's own address */
	uint64_t through_kva = ((volatile uint64_t *)frame_kva(f))[1];
	int unmap = vm_space_unmap(&s, VA(TEST_VA), PAGE_SIZE, 0);
	int r2 = read_probe(TEST_VA, &val, &cr2);
	vm_space_deactivate(&s);
	vm_space_fini(&s);
	bool last = frame_put(f);
	if (last)
		frame_free(f, 0);
	KT_ASSERT_EQ(r1, 0);
	KT_ASSERT_EQ(through_kva, 77);
	KT_ASSERT_EQ(unmap, 0);
	KT_ASSERT_EQ(r2, 14 + 1); /* #PF */
	KT_ASSERT_EQ(cr2, TEST_VA);
	KT_ASSERT(last); /* the space dropped its reference: ours was the last */
	KT_ASSERT((read_cr3() & ~0xFFFull) != root); /* fini left the dying root's CR3 */
}

KTEST(vm_space_demand_fault_maps_touched_page_only)
{
	struct vm_space s;
	KT_ASSERT_EQ(vm_space_init(&s, VM_SPACE_HOST_USER, 0), 0);
	KT_ASSERT_EQ(vm_space_add_demand_region(&s, VA(TEST_VA), 16 * PAGE_SIZE, USER_RW), 0);
	int r1 = vm_space_handle_fault(&s, VA(TEST_VA + 3 * PAGE_SIZE + 5), VM_ACCESS_WRITE);
	int r2 = vm_space_handle_fault(&s, VA(TEST_VA + 16 * PAGE_SIZE), VM_ACCESS_READ);
	vm_space_activate(&s);
	uint64_t val = 1, cr2 = 0;
	int present = read_probe(TEST_VA + 3 * PAGE_SIZE, &val, &cr2);
	int absent = read_probe(TEST_VA + 4 * PAGE_SIZE, &val, &cr2);
	vm_space_deactivate(&s);
	vm_space_fini(&s);
	KT_ASSERT_EQ(r1, 0);
	KT_ASSERT_EQ(r2, -EFAULT); /* just past the region */
	KT_ASSERT_EQ(present, 0);
	KT_ASSERT_EQ(absent, 14 + 1);
}

struct remote {
	struct vm_space *s;
	volatile int result;
	volatile uint64_t val;
};

static void remote_activate_and_read(void *arg)
{
	struct remote *r = arg;
	uint64_t val = 0, cr2 = 0;
	vm_space_activate(r->s);
	r->result = read_probe(TEST_VA, &val, &cr2);
	r->val = val;
}

static void remote_read(void *arg)
{
	struct remote *r = arg;
	uint64_t val = 0, cr2 = 0;
	r->result = read_probe(TEST_VA, &val, &cr2);
	r->val = val;
}

static void remote_deactivate(void *arg)
{
	struct remote *r = arg;
	vm_space_deactivate(r->s);
}

/*
 * CPU 1 runs the space and caches the translation; CPU 0 unmaps; CPU 1's next access
 * must fault. Without the shootdown CPU 1 would still read the old frame (QEMU TCG and
 * Bochs both keep stale TLB entries until INVLPG or a CR3 write).
 */
KTEST(vm_space_unmap_shoots_down_other_cpu)
{
	if (smp_cpu_online_count() < 2)
		KT_SKIP("needs 2 CPUs");
	struct vm_space s;
	struct remote r = { .s = &s };
	struct frame *f = frame_alloc(0, FRAME_USER);
	KT_ASSERT(f);
	*(volatile uint64_t *)frame_kva(f) = 0x5eed;
	KT_ASSERT_EQ(vm_space_init(&s, VM_SPACE_HOST_USER, 0), 0);
	KT_ASSERT_EQ(vm_space_map(&s, VA(TEST_VA), PAGE_SIZE, frame_pa(f), USER_RW), 0);
	smp_call(cpumask_of(1), remote_activate_and_read, &r, true);
	int first = r.result;
	uint64_t first_val = r.val;
	uint64_t calls_before = s.stats.call_count;
	int unmap = vm_space_unmap(&s, VA(TEST_VA), PAGE_SIZE, 0);
	uint64_t calls = s.stats.call_count - calls_before;
	smp_call(cpumask_of(1), remote_read, &r, true);
	int second = r.result;
	smp_call(cpumask_of(1), remote_deactivate, &r, true);
	vm_space_fini(&s);
	if (frame_put(f))
		frame_free(f, 0);
	KT_ASSERT_EQ(first, 0);
	KT_ASSERT_EQ(first_val, 0x5eed);
	KT_ASSERT_EQ(unmap, 0);
	KT_ASSERT_EQ(calls, 1); /* one cross-CPU call for the whole unmap */
	KT_ASSERT_EQ(second, 14 + 1);
}

/* What the kernel table maps at va: its leaf, or an item of kind PT_ITEM_NONE. */
static struct pt_item kernel_query(uint64_t va)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	struct pt_item it = { .kind = PT_ITEM_NONE };
	pt_flush_batch_init(&b, NULL, NULL);
	if (pt_cursor_begin(&c, &kernel_space.table, VA(va), VA(va + PAGE_SIZE), &b) == 0) {
		if (pt_cursor_query(&c, &it))
			it.kind = PT_ITEM_NONE;
		pt_cursor_end(&c);
	}
	pt_flush_batch_finish(&b);
	return it;
}

/*
 * CPUID 80000001H EDX bit 20 (NX) and bit 26 (1 GiB pages) (SDM Vol 2A) decide the
 * formats (pt_x86_configure): host spaces and the kernel table may hold 1 GiB leaves
 * only if the CPU has them (the direct map, which covers at least 4 GiB, then uses one
 * at PA 1 GiB; 2 MiB leaves otherwise, as on Bochs sandy_bridge and penryn); EFER.NXE
 * and the XD bit are used only if the CPU has NX.
 */
KTEST(vm_space_formats_follow_cpu_1g_pages_and_nx)
{
	uint32_t a, b, c, d;
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	bool nx = d & (1u << 20), gb = d & (1u << 26);
	struct vm_space s;
	KT_ASSERT_EQ(vm_space_init(&s, VM_SPACE_HOST_USER, 0), 0);
	const struct pt_format *user = s.table.fmt;
	vm_space_fini(&s);
	struct pt_item it = kernel_query(DIRECT_MAP_BASE + SIZE_1G);
	KT_ASSERT_EQ(pt_x86_nx, nx);
	KT_ASSERT_EQ(!!(rdmsr(MSR_EFER) & EFER_NXE), nx);
	KT_ASSERT_EQ(!!(user->leaf_levels & (1u << 3)), gb);
	KT_ASSERT_EQ(!!(kernel_space.table.fmt->leaf_levels & (1u << 3)), gb);
	KT_ASSERT_EQ(it.kind, PT_ITEM_LEAF);
	KT_ASSERT_EQ(it.size, gb ? SIZE_1G : SIZE_2M);
	KT_ASSERT_EQ(it.pa.v, SIZE_1G);
}
