/*
 * Intel EPT entries (4-level, page-walk length 4) as pure functions: the format
 * descriptor the generic engine (kernel/mm) uses for guest-physical address spaces.
 * No privileged instruction here; compiled into the kernel and the host tests.
 *
 * Bit layouts: SDM Vol 3C 29.3.2 "EPT Translation Mechanism" (2023+ numbering; 28.2.2
 * in older editions), Tables 29-1 (PML4E), 29-2 (PDPTE mapping 1 GiB), 29-3 (PDPTE ->
 * page directory), 29-4 (PDE mapping 2 MiB), 29-5 (PDE -> page table), 29-6 (PTE mapping
 * 4 KiB). An entry is present when any of bits 2:0 (R/W/X) is set.
 * Memory types: SDM Vol 3C 29.3.7 (EPT memory type in bits 5:3 of a leaf; 0 UC, 1 WC,
 * 4 WT, 5 WP, 6 WB), with IPAT (bit 6) clear so the guest's PAT still combines.
 * Accessed/dirty (bits 8, 9) are written by the CPU only when EPTP bit 6 enables them;
 * otherwise they are ignored and round-trip as software state.
 * Execute-only leaves need IA32_VMX_EPT_VPID_CAP bit 0; vmm/ checks that before use.
 */
#include <keel/errno.h>
#include <keel/pt_format.h>

#define EPT_R (1ull << 0)
#define EPT_W (1ull << 1)
#define EPT_X (1ull << 2)
#define EPT_RWX (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT 3 /* leaf memory type, bits 5:3 */
#define EPT_MT_MASK (7ull << EPT_MT_SHIFT)
#define EPT_PS (1ull << 7) /* leaf in PDPTE/PDE */
#define EPT_A (1ull << 8)
#define EPT_D (1ull << 9)
#define EPT_SOFT_SHIFT 52 /* bits 54:52 are ignored by the CPU: ours */
#define EPT_SOFT_BITS 3
#define EPT_ADDR 0x000ffffffffff000ull /* bits 51:12 */

/* enum pt_cache -> EPT memory type; -1: not expressible (UC- is a PAT-only type). */
static const int8_t ept_cache_to_mt[PT_CACHE_COUNT] = {
	[PT_CACHE_WB] = 6, [PT_CACHE_WT] = 4, [PT_CACHE_WC] = 1,
	[PT_CACHE_WP] = 5, [PT_CACHE_UC] = 0, [PT_CACHE_UC_MINUS] = -1,
};

static uint64_t ept_encode_table(paddr_t pa, unsigned level)
{
	(void)level;
	/* Permissive: the leaf decides (access rights are the AND of all levels). */
	return (pa.v & EPT_ADDR) | EPT_RWX;
}

/*
 * EPT has no user or global bit. Write without read is a misconfiguration (SDM Vol 3C
 * 29.3.3.1) and no-access would read back as absent: both refused.
 */
static int ept_encode_leaf(paddr_t pa, struct pt_prop p, unsigned level, uint64_t *out)
{
	uint64_t raw = pa.v & EPT_ADDR;

	if ((p.flags & ~PT_PROP_ALL) || (p.flags & (PT_PROP_USER | PT_PROP_GLOBAL)) ||
	    !(p.flags & PT_PROP_RWX) || ((p.flags & PT_PROP_W) && !(p.flags & PT_PROP_R)) ||
	    p.cache >= PT_CACHE_COUNT || ept_cache_to_mt[p.cache] < 0 || (p.soft >> EPT_SOFT_BITS))
		return -ENOTSUP;
	raw |= (p.flags & PT_PROP_R) ? EPT_R : 0;
	raw |= (p.flags & PT_PROP_W) ? EPT_W : 0;
	raw |= (p.flags & PT_PROP_X) ? EPT_X : 0;
	raw |= (p.flags & PT_PROP_ACCESSED) ? EPT_A : 0;
	raw |= (p.flags & PT_PROP_DIRTY) ? EPT_D : 0;
	raw |= (uint64_t)ept_cache_to_mt[p.cache] << EPT_MT_SHIFT;
	raw |= (uint64_t)p.soft << EPT_SOFT_SHIFT;
	if (level > 1)
		raw |= EPT_PS;
	*out = raw;
	return 0;
}

static uint8_t ept_mt_to_cache(unsigned mt)
{
	switch (mt) {
	case 0:
		return PT_CACHE_UC;
	case 1:
		return PT_CACHE_WC;
	case 4:
		return PT_CACHE_WT;
	case 5:
		return PT_CACHE_WP;
	default:
		return PT_CACHE_WB; /* 6; 2, 3, 7 are reserved (misconfigurations) */
	}
}

static void ept_decode(uint64_t raw, unsigned level, struct pt_entry *out)
{
	uint64_t size_mask = (1ull << (12 + 9 * (level - 1))) - 1;
	uint16_t fl = 0;

	*out = (struct pt_entry){ .kind = PT_ENTRY_ABSENT };
	if (!(raw & EPT_RWX))
		return;
	if (level == 4 || (level > 1 && !(raw & EPT_PS))) {
		out->kind = PT_ENTRY_TABLE;
		out->pa = PA(raw & EPT_ADDR);
		return;
	}
	fl |= (raw & EPT_R) ? PT_PROP_R : 0;
	fl |= (raw & EPT_W) ? PT_PROP_W : 0;
	fl |= (raw & EPT_X) ? PT_PROP_X : 0;
	fl |= (raw & EPT_A) ? PT_PROP_ACCESSED : 0;
	fl |= (raw & EPT_D) ? PT_PROP_DIRTY : 0;
	out->kind = PT_ENTRY_LEAF;
	out->pa = PA(raw & EPT_ADDR & ~size_mask);
	out->prop = (struct pt_prop){
		.flags = fl,
		.cache = ept_mt_to_cache((unsigned)((raw & EPT_MT_MASK) >> EPT_MT_SHIFT)),
		.soft = (uint8_t)((raw >> EPT_SOFT_SHIFT) & ((1u << EPT_SOFT_BITS) - 1)),
	};
}

#define EPT_FORMAT_COMMON                                                                \
	.levels = 4, .shift = { 0, 12, 21, 30, 39 }, .index_bits = { 0, 9, 9, 9, 9 },    \
	.va_bits = 48, .sign_extend = false, .pa_bits = 52, .soft_bits = EPT_SOFT_BITS,  \
	.top_first = 0, .top_last = 511, .leaf_pa_step = PAGE_SIZE,                      \
	.hw_bits = EPT_A | EPT_D,	/* when EPTP bit 6 is set: SDM Vol 3C 29.3.5 */  \
	    .no_addr_invalidate = true, /* INVEPT: single-context or all-context only */ \
	    .encode_table = ept_encode_table, .encode_leaf = ept_encode_leaf, .decode = ept_decode

const struct pt_format pt_format_ept = {
	.name = "ept",
	.leaf_levels = (1u << 1) | (1u << 2) | (1u << 3),
	EPT_FORMAT_COMMON,
};

/* Without 1 GiB leaves, for CPUs whose IA32_VMX_EPT_VPID_CAP lacks bit 17 (SDM Vol 3D
 * A.10): a 1 GiB EPT leaf there is an EPT misconfiguration. */
static const struct pt_format pt_format_ept_2m = {
	.name = "ept (no 1G)",
	.leaf_levels = (1u << 1) | (1u << 2),
	EPT_FORMAT_COMMON,
};

static bool ept_gb_pages = true;

void pt_ept_configure(bool gb_pages)
{
	ept_gb_pages = gb_pages;
}

const struct pt_format *pt_format_guest(void)
{
	return ept_gb_pages ? &pt_format_ept : &pt_format_ept_2m;
}
