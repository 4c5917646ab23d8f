/*
 * The kernel's own page table, built and edited by the cursor engine (kernel/mm) like
 * every other table: the kernel image with per-section rights (text R+X, rodata R,
 * data and bss R+W, all NX except text, all global), the direct map of all RAM with
 * the largest leaves (R+W, NX, global), and MMIO ranges set uncacheable through a cursor
 * (kmap_set_uncached). Replaces the boot tables on the boot CPU before the other CPUs
 * start, which then load it too. The table is a vm_space of kind VM_SPACE_KERNEL: no
 * frame references (kernel memory is not reference counted), and every edit, at boot
 * or later, is flushed on every online CPU by the TLB flusher (kernel/mm/tlb.c).
 *
 * Its upper-half root entries (PML4 256-511) are written once, here, and never again:
 * host spaces and the AP trampoline copy them (kmap.h). kmap_init gives every one of
 * them a level-3 node before anything copies them, and the table keeps its root entries
 * (pt_table.keep_root_entries), so the engine never clears or replaces one.
 */
#include <arch/x86.h>
#include <keel/boot.h>
#include <keel/check.h>
#include <keel/errno.h>
#include <keel/printk.h>
#include <mm/tlb.h>

#include "kmap.h"

extern char __text_start[], __text_end[], __bss_end_pa[];
extern char __rodata_start[], __data_start[];

/* IA32_PAT entries: 0 WB, 1 WT, 2 UC-, 3 UC, 4 WC, 5 WP, 6 UC-, 7 UC, the layout
 * pt_format_x86.c encodes (SDM Vol 3A 13.12.2, memory type encodings in Table 13-10). */
#define MSR_PAT 0x277
#define PAT_VALUE 0x0007050100070406ull

struct vm_space kernel_space;

/* First address under upper-half root entry i (256-511): one PML4 entry maps 512 GiB
 * (SDM Vol 3A 4.5.4, bits 47:39 select it), sign-extended from bit 47 (SDM Vol 1
 * 3.3.7.1 "Canonical Addressing"). */
uint64_t kmap_root_slot_va(unsigned i)
{
	return 0xFFFF000000000000ull | (uint64_t)i << KMAP_ROOT_SLOT_SHIFT;
}

/* True if root entry i of the kernel table points to a level-3 node. */
bool kmap_root_entry_is_table(unsigned i)
{
	const struct pt_format *f = kernel_space.table.fmt;
	struct pt_entry e;
	f->decode(__atomic_load_n(&kmap_root()[i], __ATOMIC_RELAXED), f->levels, &e);
	return e.kind == PT_ENTRY_TABLE;
}

/* Maps [va, va + len) -> pa with prop using the largest leaves; CHECKs success (boot). */
static void kmap_range(uint64_t va, uint64_t len, uint64_t pa, struct pt_prop prop)
{
	int err = vm_space_map(&kernel_space, VA(va), len, PA(pa), prop);
	if (err)
		panic("kmap: mapping %llx+%llx failed: %d", (unsigned long long)va,
		      (unsigned long long)len, err);
}

static void image_range(const void *from, const void *to, struct pt_prop prop)
{
	uint64_t va = ALIGN_DOWN((uint64_t)from, PAGE_SIZE);
	uint64_t end = ALIGN_UP((uint64_t)to, PAGE_SIZE);
	if (end > va)
		kmap_range(va, end - va, va - KERNEL_VMA, prop);
}

static void set_uc(struct pt_prop *prop, void *arg)
{
	(void)arg;
	prop->cache = PT_CACHE_UC;
}

void kmap_set_uncached(paddr_t pa, uint64_t len)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	uint64_t va = (uint64_t)pa_to_kva(PA(ALIGN_DOWN(pa.v, PAGE_SIZE)));
	uint64_t end = ALIGN_UP((uint64_t)pa_to_kva(pa) + len, PAGE_SIZE);
	tlb_batch_init(&b, &kernel_space); /* the flush reaches every online CPU */
	CHECK(pt_cursor_begin(&c, &kernel_space.table, VA(va), VA(end), &b) == 0);
	int err = pt_cursor_protect(&c, end - va, set_uc, NULL);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&b);
	CHECK(err == 0);
}

/*
 * Gives every absent upper-half root entry an empty level-3 node, so that no later
 * kernel mapping writes a root entry. A cursor over one whole 1 GiB entry of the slot
 * does it without mapping anything: its lock-free descent (pt_walk.c) installs the
 * missing level-3 node under the root and stops there, since the range covers a whole
 * level-3 entry. Returns the number of nodes added: at most 256 (1 MiB), 254 when the
 * direct map and the image use one entry each.
 */
static unsigned kmap_fill_root(void)
{
	unsigned added = 0;
	for (unsigned i = KMAP_ROOT_FIRST; i < KMAP_ROOT_END; i++) {
		if (kmap_root_entry_is_table(i))
			continue;
		uint64_t va = kmap_root_slot_va(i);
		struct pt_flush_batch b;
		struct pt_cursor c;
		pt_flush_batch_init(&b, NULL, NULL); /* nothing is removed: nothing to flush */
		CHECK(pt_cursor_begin(&c, &kernel_space.table, VA(va), VA(va + SIZE_1G), &b) == 0);
		pt_cursor_end(&c);
		pt_flush_batch_finish(&b);
		if (!kmap_root_entry_is_table(i))
			panic("kmap: no memory for the level-3 node of PML4 entry %u", i);
		added++;
	}
	return added;
}

void kmap_init(void)
{
	const struct pt_prop text = PT_PROP(PT_PROP_R | PT_PROP_X | PT_PROP_GLOBAL);
	const struct pt_prop ro = PT_PROP(PT_PROP_R | PT_PROP_GLOBAL);
	const struct pt_prop rw = PT_PROP(PT_PROP_R | PT_PROP_W | PT_PROP_GLOBAL);

	wrmsr(MSR_PAT, PAT_VALUE);
	CHECK(vm_space_init(&kernel_space, VM_SPACE_KERNEL, 0) == 0);
	kernel_space.table.keep_root_entries = true; /* before anything copies the root */
	image_range(__text_start, __text_end, text);
	image_range(__rodata_start, __data_start, ro);
	image_range(__data_start, (char *)KERNEL_VMA + (uint64_t)__bss_end_pa, rw);
	kmap_range(DIRECT_MAP_BASE, boot_info.direct_map_end, 0, rw);
	unsigned filled = kmap_fill_root();
	write_cr3(vm_space_root_pa(&kernel_space).v);
	write_cr4(read_cr4() | CR4_PGE); /* global kernel entries survive CR3 switches */
	printk("kmap: kernel table built by the engine (text RX, rodata R, data RW NX, "
	       "direct map %llu GiB); PML4 256-511 fixed, %u empty level-3 nodes (%u KiB)\n",
	       (unsigned long long)(boot_info.direct_map_end >> 30), filled,
	       filled * (unsigned)(PAGE_SIZE >> 10));
}

uint64_t *kmap_root(void)
{
	return pa_to_kva(vm_space_root_pa(&kernel_space));
}
