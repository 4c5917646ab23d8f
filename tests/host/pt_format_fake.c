/*
 * A deliberately skewed page-table format that only the host tests use, to keep the
 * engine honest about genericity: 3 levels of different widths (8, 9 and 6 index bits:
 * 4 KiB, 1 MiB and 512 MiB entries; 35-bit input addresses, no sign extension), leaves
 * at levels 1 and 3 but not 2 (so splitting a huge leaf needs two levels of nodes),
 * root indices 1..62 only, and bit positions unlike any real format.
 */
#include <keel/errno.h>

#include "pt_test.h"

#define FAKE_V (1ull << 63) /* valid */
#define FAKE_LEAF (1ull << 62)
#define FAKE_PFN_SHIFT 20 /* pa >> 12 lives in bits 59:20 */
#define FAKE_PFN_MASK ((1ull << 40) - 1)
#define FAKE_X (1ull << 0)
#define FAKE_W (1ull << 1)
#define FAKE_R (1ull << 3)
#define FAKE_G (1ull << 4)
#define FAKE_U (1ull << 5)
#define FAKE_D (1ull << 8)
#define FAKE_A (1ull << 9)
#define FAKE_CACHE_SHIFT 10 /* bits 12:10 */
#define FAKE_SOFT_SHIFT 13  /* bits 17:13 */
#define FAKE_SOFT_BITS 5

static uint64_t fake_pfn(paddr_t pa)
{
	return ((pa.v >> PAGE_SHIFT) & FAKE_PFN_MASK) << FAKE_PFN_SHIFT;
}

static uint64_t fake_encode_table(paddr_t pa, unsigned level)
{
	(void)level;
	return FAKE_V | fake_pfn(pa);
}

/* Refuses write without read, and UC- (as EPT does). */
static int fake_encode_leaf(paddr_t pa, struct pt_prop p, unsigned level, uint64_t *out)
{
	uint64_t raw = FAKE_V | FAKE_LEAF | fake_pfn(pa);

	(void)level;
	if ((p.flags & ~PT_PROP_ALL) || ((p.flags & PT_PROP_W) && !(p.flags & PT_PROP_R)) ||
	    p.cache >= PT_CACHE_COUNT || p.cache == PT_CACHE_UC_MINUS || (p.soft >> FAKE_SOFT_BITS))
		return -ENOTSUP;
	raw |= (p.flags & PT_PROP_R) ? FAKE_R : 0;
	raw |= (p.flags & PT_PROP_W) ? FAKE_W : 0;
	raw |= (p.flags & PT_PROP_X) ? FAKE_X : 0;
	raw |= (p.flags & PT_PROP_USER) ? FAKE_U : 0;
	raw |= (p.flags & PT_PROP_GLOBAL) ? FAKE_G : 0;
	raw |= (p.flags & PT_PROP_ACCESSED) ? FAKE_A : 0;
	raw |= (p.flags & PT_PROP_DIRTY) ? FAKE_D : 0;
	raw |= (uint64_t)p.cache << FAKE_CACHE_SHIFT;
	raw |= (uint64_t)p.soft << FAKE_SOFT_SHIFT;
	*out = raw;
	return 0;
}

static void fake_decode(uint64_t raw, unsigned level, struct pt_entry *out)
{
	uint16_t fl = 0;

	(void)level;
	*out = (struct pt_entry){ .kind = PT_ENTRY_ABSENT };
	if (!(raw & FAKE_V))
		return;
	out->pa = PA(((raw >> FAKE_PFN_SHIFT) & FAKE_PFN_MASK) << PAGE_SHIFT);
	if (!(raw & FAKE_LEAF)) {
		out->kind = PT_ENTRY_TABLE;
		return;
	}
	fl |= (raw & FAKE_R) ? PT_PROP_R : 0;
	fl |= (raw & FAKE_W) ? PT_PROP_W : 0;
	fl |= (raw & FAKE_X) ? PT_PROP_X : 0;
	fl |= (raw & FAKE_U) ? PT_PROP_USER : 0;
	fl |= (raw & FAKE_G) ? PT_PROP_GLOBAL : 0;
	fl |= (raw & FAKE_A) ? PT_PROP_ACCESSED : 0;
	fl |= (raw & FAKE_D) ? PT_PROP_DIRTY : 0;
	out->kind = PT_ENTRY_LEAF;
	out->prop = (struct pt_prop){ .flags = fl,
				      .cache = (uint8_t)((raw >> FAKE_CACHE_SHIFT) & 7),
				      .soft = (uint8_t)((raw >> FAKE_SOFT_SHIFT) &
							((1u << FAKE_SOFT_BITS) - 1)) };
}

const struct pt_format pt_format_fake = {
	.name = "fake",
	.levels = 3,
	.shift = { 0, 12, 20, 29 },
	.index_bits = { 0, 8, 9, 6 },
	.leaf_levels = (1u << 1) | (1u << 3),
	.va_bits = 35,
	.sign_extend = false,
	.pa_bits = 52,
	.soft_bits = FAKE_SOFT_BITS,
	.top_first = 1,
	.top_last = 62,
	.leaf_pa_step = 1ull << FAKE_PFN_SHIFT,
	.hw_bits = FAKE_A | FAKE_D, /* the tests' "hardware" threads set them */
	.encode_table = fake_encode_table,
	.encode_leaf = fake_encode_leaf,
	.decode = fake_decode,
};
