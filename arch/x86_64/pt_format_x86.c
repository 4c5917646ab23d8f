/*
 * x86-64 4-level paging entries (IA-32e paging with CR4.LA57 = 0) as pure functions:
 * the format descriptor the generic engine (kernel/mm) uses for host page tables.
 * No privileged instruction here; compiled into the kernel and the host tests.
 *
 * Bit layouts: SDM Vol 3A 4.5.4, "Formats of Paging-Structure Entries": Table 4-15
 * (PML4E), 4-16 (PDPTE mapping 1 GiB), 4-17 (PDPTE -> page directory), 4-18 (PDE mapping
 * 2 MiB), 4-19 (PDE -> page table), 4-20 (PTE mapping 4 KiB) in the 2023+ numbering;
 * older editions number the 4 KiB PTE Table 4-19.
 *
 * Cache types go through the PAT (SDM Vol 3A 13.12.3, "Selecting a Memory Type from the
 * PAT"): index = PAT*4 + PCD*2 + PWT. We assume the kernel programs IA32_PAT as
 *   0 WB, 1 WT, 2 UC-, 3 UC, 4 WC, 5 WP, 6 UC-, 7 UC
 * (the power-on default with entries 4 and 5 changed); arch/x86_64 boot must do so.
 */
#include <keel/errno.h>
#include <keel/pt_format.h>

#define X86_P (1ull << 0)  /* present */
#define X86_RW (1ull << 1) /* writable */
#define X86_US (1ull << 2) /* user */
#define X86_PWT (1ull << 3)
#define X86_PCD (1ull << 4)
#define X86_A (1ull << 5)      /* accessed */
#define X86_D (1ull << 6)      /* dirty (leaves) */
#define X86_PS (1ull << 7)     /* page size in PDPTE/PDE */
#define X86_PAT_4K (1ull << 7) /* PAT bit of a 4 KiB PTE */
#define X86_G (1ull << 8)      /* global (leaves) */
#define X86_SOFT_SHIFT 9       /* bits 11:9 are ignored by hardware: ours */
#define X86_SOFT_BITS 3
#define X86_PAT_LARGE (1ull << 12)     /* PAT bit of a 2 MiB / 1 GiB leaf */
#define X86_XD (1ull << 63)	       /* execute-disable (needs EFER.NXE) */
#define X86_ADDR 0x000ffffffffff000ull /* bits 51:12 */

/* enum pt_cache -> PAT index under the layout above; -1: not expressible. */
static const int8_t x86_cache_to_pat[PT_CACHE_COUNT] = {
	[PT_CACHE_WB] = 0, [PT_CACHE_WT] = 1, [PT_CACHE_UC_MINUS] = 2,
	[PT_CACHE_UC] = 3, [PT_CACHE_WC] = 4, [PT_CACHE_WP] = 5,
};
static const uint8_t x86_pat_to_cache[8] = {
	PT_CACHE_WB, PT_CACHE_WT, PT_CACHE_UC_MINUS, PT_CACHE_UC,
	PT_CACHE_WC, PT_CACHE_WP, PT_CACHE_UC_MINUS, PT_CACHE_UC,
};

static uint64_t x86_pat_bit(unsigned level)
{
	return level == 1 ? X86_PAT_4K : X86_PAT_LARGE;
}

static uint64_t x86_encode_table(paddr_t pa, unsigned level)
{
	(void)level;
	/* Permissive: the leaf decides (rights are the AND of all levels, SDM 4.6). */
	return (pa.v & X86_ADDR) | X86_P | X86_RW | X86_US;
}

/*
 * Whether the XD bit exists (EFER.NXE on). Without NX, XD is a reserved bit (a walk that
 * meets it faults with RSVD set, SDM Vol 3A 4.6.1), so leaves are then encoded without
 * it: every mapping is executable and decodes so. Cleared by boot code on such CPUs.
 */
bool pt_x86_nx = true;

/* x86 cannot express a mapping without read access, nor write- or execute-only. */
static int x86_encode_leaf(paddr_t pa, struct pt_prop p, unsigned level, uint64_t *out)
{
	uint64_t raw = (pa.v & X86_ADDR) | X86_P;
	int pat;

	if (!(p.flags & PT_PROP_R) || (p.flags & ~PT_PROP_ALL) || p.cache >= PT_CACHE_COUNT ||
	    (p.soft >> X86_SOFT_BITS))
		return -ENOTSUP;
	pat = x86_cache_to_pat[p.cache];
	raw |= (p.flags & PT_PROP_W) ? X86_RW : 0;
	raw |= (p.flags & PT_PROP_X) || !pt_x86_nx ? 0 : X86_XD;
	raw |= (p.flags & PT_PROP_USER) ? X86_US : 0;
	raw |= (p.flags & PT_PROP_GLOBAL) ? X86_G : 0;
	raw |= (p.flags & PT_PROP_ACCESSED) ? X86_A : 0;
	raw |= (p.flags & PT_PROP_DIRTY) ? X86_D : 0;
	raw |= (pat & 1) ? X86_PWT : 0;
	raw |= (pat & 2) ? X86_PCD : 0;
	raw |= (pat & 4) ? x86_pat_bit(level) : 0;
	raw |= (uint64_t)p.soft << X86_SOFT_SHIFT;
	if (level > 1)
		raw |= X86_PS;
	*out = raw;
	return 0;
}

static struct pt_prop x86_decode_prop(uint64_t raw, unsigned level)
{
	unsigned pat = ((raw & X86_PWT) ? 1 : 0) | ((raw & X86_PCD) ? 2 : 0) |
		       ((raw & x86_pat_bit(level)) ? 4 : 0);
	uint16_t fl = PT_PROP_R;

	fl |= (raw & X86_RW) ? PT_PROP_W : 0;
	fl |= (raw & X86_XD) ? 0 : PT_PROP_X;
	fl |= (raw & X86_US) ? PT_PROP_USER : 0;
	fl |= (raw & X86_G) ? PT_PROP_GLOBAL : 0;
	fl |= (raw & X86_A) ? PT_PROP_ACCESSED : 0;
	fl |= (raw & X86_D) ? PT_PROP_DIRTY : 0;
	return (struct pt_prop){ .flags = fl,
				 .cache = x86_pat_to_cache[pat],
				 .soft = (uint8_t)((raw >> X86_SOFT_SHIFT) &
						   ((1u << X86_SOFT_BITS) - 1)) };
}

static void x86_decode(uint64_t raw, unsigned level, struct pt_entry *out)
{
	uint64_t size_mask = (1ull << (12 + 9 * (level - 1))) - 1;

	*out = (struct pt_entry){ .kind = PT_ENTRY_ABSENT };
	if (!(raw & X86_P))
		return; /* not present: the other bits are ours, and we keep none */
	if (level == 1 || (level < 4 && (raw & X86_PS))) {
		out->kind = PT_ENTRY_LEAF;
		out->pa = PA(raw & X86_ADDR & ~size_mask);
		out->prop = x86_decode_prop(raw, level);
		return;
	}
	out->kind = PT_ENTRY_TABLE;
	out->pa = PA(raw & X86_ADDR);
}

#define X86_LEAVES_1G ((1u << 1) | (1u << 2) | (1u << 3))
#define X86_LEAVES_2M ((1u << 1) | (1u << 2))
#define X86_FORMAT_COMMON                                                              \
	.levels = 4, .shift = { 0, 12, 21, 30, 39 }, .index_bits = { 0, 9, 9, 9, 9 },  \
	.va_bits = 48, .sign_extend = true, .pa_bits = 52, .soft_bits = X86_SOFT_BITS, \
	.leaf_pa_step = PAGE_SIZE,    /* bits 51:12 hold pa >> 12 */                   \
	    .hw_bits = X86_A | X86_D, /* set by the walker: SDM Vol 3A 4.8 */          \
	    .encode_table = x86_encode_table, .encode_leaf = x86_encode_leaf, .decode = x86_decode

const struct pt_format pt_format_x86_64 = {
	.name = "x86-64",
	.top_first = 0,
	.top_last = 511,
	.leaf_levels = X86_LEAVES_1G,
	X86_FORMAT_COMMON,
};

const struct pt_format pt_format_x86_64_user = {
	.name = "x86-64-user",
	.top_first = 0,
	.top_last = 255,
	.leaf_levels = X86_LEAVES_1G,
	X86_FORMAT_COMMON,
};

/* The same without 1 GiB leaves, for CPUs without them (a PS bit in a PDPTE is then
 * reserved: SDM Vol 3A 4.5, CPUID 80000001H EDX bit 26). */
static const struct pt_format pt_format_x86_64_2m = {
	.name = "x86-64 (no 1G)",
	.top_first = 0,
	.top_last = 511,
	.leaf_levels = X86_LEAVES_2M,
	X86_FORMAT_COMMON,
};

static const struct pt_format pt_format_x86_64_user_2m = {
	.name = "x86-64-user (no 1G)",
	.top_first = 0,
	.top_last = 255,
	.leaf_levels = X86_LEAVES_2M,
	X86_FORMAT_COMMON,
};

static bool x86_gb_pages = true;

void pt_x86_configure(bool nx, bool gb_pages)
{
	pt_x86_nx = nx;
	x86_gb_pages = gb_pages;
}

const struct pt_format *pt_format_host(void)
{
	return x86_gb_pages ? &pt_format_x86_64 : &pt_format_x86_64_2m;
}

const struct pt_format *pt_format_host_user(void)
{
	return x86_gb_pages ? &pt_format_x86_64_user : &pt_format_x86_64_user_2m;
}
