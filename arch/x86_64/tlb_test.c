/*
 * TLB tags and shootdowns on real x86-64 paging (kernel/mm/tlb.c, vm_space_x86.c):
 * host spaces with their own PCIDs switched without flushing, flushes of a space that
 * is not the current one (INVPCID individual-address, or a stale mark that makes the
 * next load flush), the lazy flush of a CPU that missed a dispatch, and edits of the
 * kernel table reaching every CPU, and the gate that keeps kernel-table flushes and
 * CPU bring-up apart. Each test checks what a CPU reads through its TLB:
 * with a missing flush the emulators keep the old translation and the test fails.
 * Run with pcid=off and pcid=noinvpcid too (ktest.sh --cmdline) for the fallbacks.
 */
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/ktest.h>
#include <keel/smp.h>
#include <keel/time.h>
#include <mm/tlb.h>
#include <mm/vm_space.h>

#include "kmap.h"

#define TEST_VA 0x400000ull
#define USER_RW PT_PROP(PT_PROP_R | PT_PROP_W | PT_PROP_USER)
/* Under the kernel image's top-level entry (PML4 511), below the image (PDPT 510). */
#define KTEST_VA 0xFFFFFFFF00000000ull
#define KERNEL_RW PT_PROP(PT_PROP_R | PT_PROP_W | PT_PROP_GLOBAL)

/* Two host spaces mapping TEST_VA to two frames holding different values. */
struct two_spaces {
	struct vm_space s[2];
	struct frame *f[2];
};

static int two_spaces_init(struct two_spaces *t)
{
	for (unsigned i = 0; i < 2; i++) {
		t->f[i] = frame_alloc(0, FRAME_USER);
		if (!t->f[i])
			return -ENOMEM;
		*(volatile uint64_t *)frame_kva(t->f[i]) = 0xA0 + i;
		int err = vm_space_init(&t->s[i], VM_SPACE_HOST_USER, 0);
		if (!err)
			err = vm_space_map(&t->s[i], VA(TEST_VA), PAGE_SIZE, frame_pa(t->f[i]),
					   USER_RW);
		if (err)
			return err;
	}
	return 0;
}

static void two_spaces_fini(struct two_spaces *t)
{
	for (unsigned i = 0; i < 2; i++) {
		vm_space_fini(&t->s[i]);
		if (frame_put(t->f[i]))
			frame_free(t->f[i], 0);
	}
}

/* Reads TEST_VA: its value, or ~0 if the read faulted. */
static uint64_t read_test_va(void)
{
	uint64_t v;
	return probe_read_u64((const void *)TEST_VA, &v) ? ~0ull : v;
}

/* This CPU leaves `from` (may be NULL) for `to` and reads TEST_VA there. */
static uint64_t switch_and_read(struct vm_space *from, struct vm_space *to)
{
	if (from)
		vm_space_deactivate(from);
	vm_space_activate(to);
	return read_test_va();
}

KTEST(tlb_host_spaces_get_distinct_pcids_in_cr3)
{
	struct two_spaces ts;
	KT_ASSERT_EQ(two_spaces_init(&ts), 0);
	uint64_t tag0 = ts.s[0].tag, tag1 = ts.s[1].tag;
	vm_space_activate(&ts.s[1]);
	uint64_t cr3 = read_cr3();
	vm_space_deactivate(&ts.s[1]);
	two_spaces_fini(&ts);
	if (!host_tlb_caps.pcid) {
		KT_ASSERT_EQ(tag0 | tag1, 0);
		KT_SKIP("no PCIDs (CPU or pcid=off): spaces are untagged");
	}
	KT_ASSERT(tag0 && tag1 && tag0 != tag1 && tag0 < 4096 && tag1 < 4096);
	KT_ASSERT_EQ(cr3 & 0xFFF, tag1);
	KT_ASSERT(read_cr4() & CR4_PCIDE);
}

/*
 * Switching back and forth without flushing: each space sees its own frame at the same
 * address. Were both under one PCID, the no-flush load would keep the other's entry.
 */
KTEST(tlb_noflush_switch_keeps_each_space_own_translation)
{
	struct two_spaces ts;
	uint64_t seen[6];
	KT_ASSERT_EQ(two_spaces_init(&ts), 0);
	seen[0] = switch_and_read(NULL, &ts.s[0]);
	for (unsigned i = 1; i < 6; i++)
		seen[i] = switch_and_read(&ts.s[(i - 1) % 2], &ts.s[i % 2]);
	vm_space_deactivate(&ts.s[1]);
	uint64_t full = ts.s[0].stats.full_flush_count + ts.s[1].stats.full_flush_count;
	two_spaces_fini(&ts);
	for (unsigned i = 0; i < 6; i++)
		KT_ASSERT_EQ(seen[i], 0xA0 + i % 2);
	KT_ASSERT_EQ(full, 0); /* no dispatch: no CPU needed a full flush */
}

/*
 * Space 0 is cached here (ran, then space 1 was loaded without flushing); an unmap in
 * space 0 from here flushes the page now (INVPCID individual-address, or marks the PCID
 * for a flushing load), so switching back faults instead of using the old entry.
 */
KTEST(tlb_unmap_in_noncurrent_space_faults_after_switch_back)
{
	struct two_spaces ts;
	KT_ASSERT_EQ(two_spaces_init(&ts), 0);
	uint64_t before = switch_and_read(NULL, &ts.s[0]);
	uint64_t other = switch_and_read(&ts.s[0], &ts.s[1]);
	uint64_t ranges = ts.s[0].stats.range_flush_count;
	int unmap = vm_space_unmap(&ts.s[0], VA(TEST_VA), PAGE_SIZE, 0);
	ranges = ts.s[0].stats.range_flush_count - ranges;
	uint64_t after = switch_and_read(&ts.s[1], &ts.s[0]);
	uint64_t lazy = ts.s[0].stats.lazy_flush_count;
	vm_space_deactivate(&ts.s[0]);
	two_spaces_fini(&ts);
	KT_ASSERT_EQ(before, 0xA0);
	KT_ASSERT_EQ(other, 0xA1);
	KT_ASSERT_EQ(unmap, 0);
	KT_ASSERT_EQ(after, ~0ull);
	KT_ASSERT_EQ(ranges, 1); /* flushed here at once, not at the next activation */
	KT_ASSERT_EQ(lazy, 0);
}

struct remote {
	struct two_spaces *t;
	volatile uint64_t val;
	uint64_t kva;
};

static void remote_run_space0(void *arg)
{
	struct remote *r = arg;
	r->val = switch_and_read(NULL, &r->t->s[0]);
}

static void remote_switch_to_space1(void *arg)
{
	struct remote *r = arg;
	r->val = switch_and_read(&r->t->s[0], &r->t->s[1]);
}

static void remote_switch_to_space0(void *arg)
{
	struct remote *r = arg;
	r->val = switch_and_read(&r->t->s[1], &r->t->s[0]);
	vm_space_deactivate(&r->t->s[0]);
}

/*
 * The lazy flush across CPUs: CPU 1 ran space 0 and went on to space 1 (keeping space
 * 0's entries under its PCID); CPU 0 unmaps in space 0 and sends nothing to CPU 1 (it
 * does not run it); CPU 1's return to space 0 must flush it in full and fault.
 */
KTEST(tlb_cpu_that_missed_unmap_flushes_at_activation)
{
	if (smp_cpu_online_count() < 2)
		KT_SKIP("needs 2 CPUs");
	struct two_spaces ts;
	struct remote r = { .t = &ts };
	KT_ASSERT_EQ(two_spaces_init(&ts), 0);
	smp_call(cpumask_of(1), remote_run_space0, &r, true);
	uint64_t first = r.val;
	smp_call(cpumask_of(1), remote_switch_to_space1, &r, true);
	uint64_t calls = ts.s[0].stats.call_count;
	int unmap = vm_space_unmap(&ts.s[0], VA(TEST_VA), PAGE_SIZE, 0);
	calls = ts.s[0].stats.call_count - calls;
	smp_call(cpumask_of(1), remote_switch_to_space0, &r, true);
	uint64_t after = r.val, lazy = ts.s[0].stats.lazy_flush_count;
	two_spaces_fini(&ts);
	KT_ASSERT_EQ(first, 0xA0);
	KT_ASSERT_EQ(unmap, 0);
	KT_ASSERT_EQ(after, ~0ull);
	KT_ASSERT_EQ(calls, 0);
	KT_ASSERT_EQ(lazy, 1);
}

/* ---- kernel table edits after boot */

static void remote_read_kva(void *arg)
{
	struct remote *r = arg;
	uint64_t v;
	r->val = probe_read_u64((const void *)r->kva, &v) ? ~0ull : v;
}

static uint64_t read_on(unsigned cpu, struct remote *r)
{
	smp_call(cpumask_of(cpu), remote_read_kva, r, true);
	return r->val;
}

/*
 * A global kernel page read (and so cached) by every other CPU is remapped to another
 * frame, then unmapped page by page (INVLPG: drops global entries under every PCID),
 * then mapped again and its whole 1 GiB window unmapped (nodes freed: full flush with
 * global entries). Every CPU must see each change.
 */
KTEST(tlb_kernel_table_edit_reaches_every_cpu)
{
	unsigned n = smp_cpu_online_count();
	if (n < 2)
		KT_SKIP("needs 2 CPUs");
	struct frame *f[2] = { frame_alloc(0, FRAME_KERNEL), frame_alloc(0, FRAME_KERNEL) };
	KT_ASSERT(f[0] && f[1]);
	*(volatile uint64_t *)frame_kva(f[0]) = 0xC0;
	*(volatile uint64_t *)frame_kva(f[1]) = 0xC1;
	struct remote r = { .kva = KTEST_VA };
	struct vm_space *k = &kernel_space;
	uint64_t seen[MAX_CPUS][4] = { 0 };
	uint64_t full = k->stats.full_flush_count, ranges = k->stats.range_flush_count;
	int err[5];

	err[0] = vm_space_map(k, VA(KTEST_VA), PAGE_SIZE, frame_pa(f[0]), KERNEL_RW);
	for (unsigned cpu = 1; cpu < n; cpu++)
		seen[cpu][0] = read_on(cpu, &r);
	err[1] = vm_space_unmap(k, VA(KTEST_VA), PAGE_SIZE, 0);
	err[2] = vm_space_map(k, VA(KTEST_VA), PAGE_SIZE, frame_pa(f[1]), KERNEL_RW);
	for (unsigned cpu = 1; cpu < n; cpu++)
		seen[cpu][1] = read_on(cpu, &r);
	err[3] = vm_space_unmap(k, VA(KTEST_VA), PAGE_SIZE, 0);
	for (unsigned cpu = 1; cpu < n; cpu++)
		seen[cpu][2] = read_on(cpu, &r);
	ranges = k->stats.range_flush_count - ranges;
	KT_ASSERT_EQ(vm_space_map(k, VA(KTEST_VA), PAGE_SIZE, frame_pa(f[0]), KERNEL_RW), 0);
	for (unsigned cpu = 1; cpu < n; cpu++)
		(void)read_on(cpu, &r);
	err[4] = vm_space_unmap(k, VA(ALIGN_DOWN(KTEST_VA, SIZE_1G)), SIZE_1G, 0);
	for (unsigned cpu = 1; cpu < n; cpu++)
		seen[cpu][3] = read_on(cpu, &r);
	full = k->stats.full_flush_count - full;
	frame_free(f[0], 0);
	frame_free(f[1], 0);
	for (unsigned i = 0; i < 5; i++)
		KT_ASSERT_EQ(err[i], 0);
	for (unsigned cpu = 1; cpu < n; cpu++) {
		KT_ASSERT_EQ(seen[cpu][0], 0xC0);
		KT_ASSERT_EQ(seen[cpu][1], 0xC1);
		KT_ASSERT_EQ(seen[cpu][2], ~0ull);
		KT_ASSERT_EQ(seen[cpu][3], ~0ull);
	}
	KT_ASSERT_EQ(ranges, 2 * n); /* two single-page dispatches, on every CPU */
	KT_ASSERT_EQ(full, n);	     /* the window's nodes went: one full flush per CPU */
}

/* ---- the bring-up gate (tlb.h): kernel-table flushes vs a CPU coming online */

#define GATE_WAIT_NS (2 * NSEC_PER_SEC) /* bounds the waits: a broken gate fails, not hangs */

/* A kernel-table unmap run by another CPU as idle work (interrupts on, as the rule asks). */
struct gate_edit {
	uint64_t va;
	int err;
	uint32_t done; /* [a] */
};

static void gate_edit_unmap(void *arg)
{
	struct gate_edit *e = arg;
	e->err = vm_space_unmap(&kernel_space, VA(e->va), PAGE_SIZE, 0);
	__atomic_store_n(&e->done, 1, __ATOMIC_RELEASE);
}

static bool gate_edit_done(struct gate_edit *e)
{
	return __atomic_load_n(&e->done, __ATOMIC_ACQUIRE);
}

static void gate_edit_wait(struct gate_edit *e)
{
	uint64_t t0 = time_ns();
	while (!gate_edit_done(e) && time_ns() - t0 < GATE_WAIT_NS)
		arch_cpu_relax();
}

/* Frees the page once the unmap is done; a failed test leaves it mapped (and leaks). */
static void gate_edit_free(struct gate_edit *e, struct frame *f)
{
	if (gate_edit_done(e) && e->err == 0)
		frame_free(f, 0);
}

/*
 * No CPU can be re-onlined, so these tests close the gate exactly as ap_start does,
 * without starting a CPU. While it is closed, CPU 1's kernel-table unmap must wait in
 * its flush (it cannot return); once it opens, the unmap completes and its flush
 * reaches CPU 1, which had the page cached.
 */
KTEST(tlb_kernel_flush_waits_while_cpu_comes_online)
{
	if (smp_cpu_online_count() < 2)
		KT_SKIP("needs 2 CPUs");
	struct frame *f = frame_alloc(0, FRAME_KERNEL);
	KT_ASSERT(f);
	*(volatile uint64_t *)frame_kva(f) = 0xC2;
	struct remote r = { .kva = KTEST_VA };
	static struct gate_edit e; /* static: CPU 1 may still write it after a failed test */
	e = (struct gate_edit){ .va = KTEST_VA };
	int map = vm_space_map(&kernel_space, VA(KTEST_VA), PAGE_SIZE, frame_pa(f), KERNEL_RW);
	uint64_t before = read_on(1, &r);
	uint64_t waits = tlb_bringup_wait_count();

	tlb_cpu_bringup_begin();
	int posted = smp_run_idle_work(1, gate_edit_unmap, &e);
	uint64_t t0 = time_ns();
	while (posted == 0 && tlb_bringup_wait_count() == waits && !gate_edit_done(&e) &&
	       time_ns() - t0 < GATE_WAIT_NS)
		arch_cpu_relax();
	bool waited = tlb_bringup_wait_count() > waits;
	bool done_while_closed = gate_edit_done(&e);
	tlb_cpu_bringup_end();

	gate_edit_wait(&e);
	uint64_t after = read_on(1, &r);
	gate_edit_free(&e, f);
	KT_ASSERT_EQ(map, 0);
	KT_ASSERT_EQ(before, 0xC2);
	KT_ASSERT_EQ(posted, 0);
	KT_ASSERT(waited);
	KT_ASSERT(!done_while_closed);
	KT_ASSERT(gate_edit_done(&e));
	KT_ASSERT_EQ(e.err, 0);
	KT_ASSERT_EQ(after, ~0ull);
}

/*
 * Closing the gate waits for a kernel-table flush already in flight, and serves this
 * CPU's calls meanwhile: CPU 1's unmap is dispatched while CPU 0 has interrupts off, so
 * it waits for CPU 0's acknowledgement; bring-up on CPU 0 must run that flush request
 * itself (else both wait forever) and return only once the dispatch is over.
 */
KTEST(tlb_cpu_bringup_waits_for_kernel_flush_in_flight)
{
	if (smp_cpu_online_count() < 2)
		KT_SKIP("needs 2 CPUs");
	struct frame *f = frame_alloc(0, FRAME_KERNEL);
	KT_ASSERT(f);
	static struct gate_edit e; /* static: CPU 1 may still write it after a failed test */
	e = (struct gate_edit){ .va = KTEST_VA };
	struct vm_space *k = &kernel_space;
	int map = vm_space_map(k, VA(KTEST_VA), PAGE_SIZE, frame_pa(f), KERNEL_RW);

	unsigned long flags = arch_irq_save();
	uint64_t dispatches = __atomic_load_n(&k->stats.dispatch_count, __ATOMIC_RELAXED);
	uint64_t calls = __atomic_load_n(&k->stats.call_count, __ATOMIC_RELAXED);
	int posted = smp_run_idle_work(1, gate_edit_unmap, &e);
	uint64_t t0 = time_ns();
	while (posted == 0 &&
	       __atomic_load_n(&k->stats.dispatch_count, __ATOMIC_RELAXED) == dispatches &&
	       time_ns() - t0 < GATE_WAIT_NS)
		arch_cpu_relax();
	bool in_flight = __atomic_load_n(&k->stats.dispatch_count, __ATOMIC_RELAXED) > dispatches;
	bool acked_before = __atomic_load_n(&k->stats.call_count, __ATOMIC_RELAXED) > calls;
	tlb_cpu_bringup_begin();
	bool acked_after = __atomic_load_n(&k->stats.call_count, __ATOMIC_RELAXED) > calls;
	tlb_cpu_bringup_end();
	arch_irq_restore(flags);

	gate_edit_wait(&e);
	gate_edit_free(&e, f);
	KT_ASSERT_EQ(map, 0);
	KT_ASSERT_EQ(posted, 0);
	KT_ASSERT(in_flight);
	KT_ASSERT(!acked_before); /* CPU 1 was waiting for this CPU */
	KT_ASSERT(acked_after);	  /* begin returned after the dispatch was over */
	KT_ASSERT(gate_edit_done(&e));
	KT_ASSERT_EQ(e.err, 0);
}
