/* The kernel's own table, built by the engine: rights per section, direct map, MMIO UC. */
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/boot.h>
#include <keel/ktest.h>
#include <mm/pt.h>

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
