/*
 * The kernel's own table, built by the engine: rights per section, direct map, MMIO UC,
 * and fixed upper-half root entries (a new kernel mapping reaches host spaces that
 * copied the kernel half before it).
 */
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/boot.h>
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/ktest.h>
#include <mm/pt.h>
#include <mm/vm_space.h>

#include "kmap.h"

static const uint64_t kmap_rodata_probe = 0x600dull;
static uint8_t kmap_data_probe[16] __aligned(16) = { 0xC3 }; /* ret */

/* What the kernel table maps at va (a leaf, or PT_ITEM_NONE). */
static struct pt_item kmap_query(uint64_t va)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	struct pt_item it = { .kind = PT_ITEM_NONE };
	pt_flush_batch_init(&b, NULL, NULL);
	uint64_t page = ALIGN_DOWN(va, PAGE_SIZE);
	if (pt_cursor_begin(&c, &kernel_space.table, VA(page), VA(page + PAGE_SIZE), &b) == 0) {
		if (pt_cursor_query(&c, &it))
			it.kind = PT_ITEM_NONE;
		pt_cursor_end(&c);
	}
	pt_flush_batch_finish(&b);
	return it;
}

KTEST(kmap_cr3_is_engine_table)
{
	KT_ASSERT_EQ(read_cr3() & ~0xFFFull, pt_table_root_pa(&kernel_space.table).v);
}

KTEST(kmap_sections_have_their_rights)
{
	struct pt_item text = kmap_query((uint64_t)&kmap_query);
	struct pt_item ro = kmap_query((uint64_t)&kmap_rodata_probe);
	struct pt_item rw = kmap_query((uint64_t)kmap_data_probe);
	KT_ASSERT_EQ(text.kind, PT_ITEM_LEAF);
	KT_ASSERT_EQ(text.prop.flags & (PT_PROP_W | PT_PROP_X), PT_PROP_X);
	KT_ASSERT_EQ(ro.kind, PT_ITEM_LEAF);
	KT_ASSERT_EQ(ro.prop.flags & (PT_PROP_W | PT_PROP_X), 0);
	KT_ASSERT_EQ(rw.kind, PT_ITEM_LEAF);
	KT_ASSERT_EQ(rw.prop.flags & (PT_PROP_W | PT_PROP_X), PT_PROP_W);
	KT_ASSERT_EQ(text.pa.v, kva_to_pa((void *)ALIGN_DOWN((uint64_t)&kmap_query, text.size)).v);
}

KTEST(kmap_rodata_write_faults)
{
	struct trap_catch c;
	int r = trap_catch(&c);
	if (r == 0) {
		*(volatile uint64_t *)&kmap_rodata_probe = 1;
		trap_uncatch();
	}
	KT_ASSERT_EQ(r, 14 + 1);
	KT_ASSERT_EQ(c.error & 3, 3); /* protection violation on a write */
	KT_ASSERT_EQ(kmap_rodata_probe, 0x600d);
}

KTEST(kmap_data_is_not_executable)
{
	if (!pt_x86_nx)
		KT_SKIP("this CPU has no NX");
	struct trap_catch c;
	int r = trap_catch(&c);
	if (r == 0) {
		((void (*)(void))(uintptr_t)kmap_data_probe)();
		trap_uncatch();
	}
	KT_ASSERT_EQ(r, 14 + 1);
	KT_ASSERT(c.error & 16); /* instruction fetch */
	KT_ASSERT_EQ(c.cr2, (uint64_t)kmap_data_probe);
}

KTEST(kmap_direct_map_covers_all_ram)
{
	for (unsigned i = 0; i < boot_info.mem_count; i++) {
		const struct boot_mem_region *m = &boot_info.mem[i];
		if (m->type != BOOT_MEM_USABLE || m->base >= boot_info.direct_map_end)
			continue;
		uint64_t last =
		    ALIGN_DOWN(MIN(m->base + m->len, boot_info.direct_map_end) - 1, PAGE_SIZE);
		struct pt_item it = kmap_query((uint64_t)pa_to_kva(PA(last)));
		KT_ASSERT_EQ(it.kind, PT_ITEM_LEAF);
		KT_ASSERT_EQ(it.pa.v + (last - ALIGN_DOWN(last, it.size)), last);
		KT_ASSERT(!(it.prop.flags & PT_PROP_X));
	}
}

KTEST(kmap_lapic_mmio_uncached_in_xapic_mode)
{
	if (apic_is_x2apic())
		KT_SKIP("x2APIC mode: the registers are MSRs, no MMIO mapping");
	struct pt_item it = kmap_query((uint64_t)pa_to_kva(PA(0xFEE00000)));
	KT_ASSERT_EQ(it.kind, PT_ITEM_LEAF);
	KT_ASSERT_EQ(it.prop.cache, PT_CACHE_UC);
	KT_ASSERT_EQ(it.size, PAGE_SIZE); /* the engine split the huge leaf around it */
	struct pt_item next = kmap_query((uint64_t)pa_to_kva(PA(0xFEE01000)));
	KT_ASSERT_EQ(next.prop.cache, PT_CACHE_WB);
}

/* ---- Upper-half root entries: fixed from kmap_init on */

#define SLOT_SIZE (1ull << KMAP_ROOT_SLOT_SHIFT)
#define KERNEL_RW_NX PT_PROP(PT_PROP_R | PT_PROP_W | PT_PROP_GLOBAL)
#define NEW_SLOT_OFFSET (GiB(5) + 0x3000) /* where the tests map, inside their slot */

/* True if nothing is mapped anywhere under root entry i of the kernel table. */
static bool slot_is_unused(unsigned i)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t va = kmap_root_slot_va(i);
	bool unused = false;
	pt_flush_batch_init(&b, NULL, NULL);
	if (pt_cursor_begin(&c, &kernel_space.table, VA(va), VA(va + SLOT_SIZE), &b) == 0) {
		unused = pt_cursor_find_next(&c, SLOT_SIZE, &it) == -ENOENT;
		pt_cursor_end(&c);
	}
	pt_flush_batch_finish(&b);
	return unused;
}

/* A root entry of the upper half with nothing under it, from `first` on (not the last).
 * Each test starts at its own index so that none uses a slot another one touched. */
static unsigned unused_slot(unsigned first)
{
	for (unsigned i = first; i < KMAP_ROOT_END - 1; i++)
		if (slot_is_unused(i))
			return i;
	return 0;
}

/* Writes v at va under a catch: 0, or the vector + 1 it raised. */
static int write_probe(uint64_t va, uint64_t v)
{
	struct trap_catch c;
	int r = trap_catch(&c);
	if (r == 0) {
		*(volatile uint64_t *)va = v;
		trap_uncatch();
	}
	return r;
}

/* Reads va: its value, or ~0 if the read faulted. */
static uint64_t read_or_ones(uint64_t va)
{
	uint64_t v;
	return probe_read_u64((const void *)va, &v) ? ~0ull : v;
}

KTEST(kmap_upper_half_root_entries_all_present)
{
	KT_ASSERT(kernel_space.table.keep_root_entries);
	for (unsigned i = KMAP_ROOT_FIRST; i < KMAP_ROOT_END; i++)
		KT_ASSERT(kmap_root_entry_is_table(i));
}

/*
 * A host space copies the kernel half when it is first loaded; a page the kernel maps
 * afterwards in a slot nothing used before is reachable from that space all the same
 * (its copied root entry already points to the slot's level-3 node), and unmapping it
 * leaves the kernel's root entry as it was.
 */
KTEST(kmap_mapping_in_new_slot_reaches_existing_host_space)
{
	unsigned slot = unused_slot(320);
	KT_ASSERT(slot != 0);
	uint64_t va = kmap_root_slot_va(slot) + NEW_SLOT_OFFSET;
	uint64_t entry = kmap_root()[slot];
	struct frame *f = frame_alloc(0, FRAME_KERNEL);
	KT_ASSERT(f);
	volatile uint64_t *kva = frame_kva(f);
	kva[0] = 0x5107;
	kva[1] = 0;
	struct vm_space s;
	KT_ASSERT_EQ(vm_space_init(&s, VM_SPACE_HOST_USER, 0), 0);
	vm_space_activate(&s); /* copies the kernel half now, before the mapping */
	uint64_t host_root_pa = vm_space_root_pa(&s).v;
	bool in_host = (read_cr3() & ~0xFFFull) == host_root_pa;
	uint64_t host_entry = ((const uint64_t *)pa_to_kva(PA(host_root_pa)))[slot];
	int map = vm_space_map(&kernel_space, VA(va), PAGE_SIZE, frame_pa(f), KERNEL_RW_NX);
	uint64_t seen = read_or_ones(va);
	int wrote = write_probe(va + 8, 0x77);
	uint64_t written = kva[1];
	int unmap = vm_space_unmap(&kernel_space, VA(va), PAGE_SIZE, 0);
	uint64_t after = read_or_ones(va);
	uint64_t entry_after = kmap_root()[slot];
	vm_space_deactivate(&s);
	vm_space_fini(&s); /* leaves the dying root for the kernel table */
	bool back = (read_cr3() & ~0xFFFull) == vm_space_root_pa(&kernel_space).v;
	frame_free(f, 0);
	KT_ASSERT(in_host);
	KT_ASSERT_EQ(host_entry, entry);
	KT_ASSERT_EQ(map, 0);
	KT_ASSERT_EQ(seen, 0x5107);
	KT_ASSERT_EQ(wrote, 0);
	KT_ASSERT_EQ(written, 0x77);
	KT_ASSERT_EQ(unmap, 0);
	KT_ASSERT_EQ(after, ~0ull);
	KT_ASSERT_EQ(entry_after, entry);
	KT_ASSERT(back);
}

/* Unmapping a whole 512 GiB slot (its lower nodes go) keeps the slot's root entry. */
KTEST(kmap_unmap_of_whole_slot_keeps_root_entry)
{
	unsigned slot = unused_slot(448);
	KT_ASSERT(slot != 0);
	uint64_t base = kmap_root_slot_va(slot);
	uint64_t entry = kmap_root()[slot];
	struct frame *f = frame_alloc(0, FRAME_KERNEL);
	KT_ASSERT(f);
	int map = vm_space_map(&kernel_space, VA(base + NEW_SLOT_OFFSET), PAGE_SIZE, frame_pa(f),
			       KERNEL_RW_NX);
	int unmap = vm_space_unmap(&kernel_space, VA(base), SLOT_SIZE, 0);
	int unmap_empty = vm_space_unmap(&kernel_space, VA(base), SLOT_SIZE, 0);
	uint64_t entry_after = kmap_root()[slot];
	bool unused = slot_is_unused(slot);
	frame_free(f, 0);
	KT_ASSERT_EQ(map, 0);
	KT_ASSERT_EQ(unmap, 0);
	KT_ASSERT_EQ(unmap_empty, 0);
	KT_ASSERT_EQ(entry_after, entry);
	KT_ASSERT(kmap_root_entry_is_table(slot));
	KT_ASSERT(unused);
}
