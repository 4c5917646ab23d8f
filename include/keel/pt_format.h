/*
 * Page-table format descriptors: everything the generic cursor engine (kernel/mm/pt*.c)
 * needs to know about one hardware (or test) page-table layout, as data plus pure
 * functions. A format never touches hardware and never allocates; the engine never
 * knows a bit position. Real formats live in arch/x86_64/pt_format_{x86,ept}.c and are
 * compiled both into the kernel and into the host unit tests.
 *
 * Levels are numbered from 1 (the level whose entries map the smallest pages) up to
 * `levels` (the root). A node is always one 4 KiB frame of 64-bit entries, of which a
 * level uses the first 2^index_bits[level].
 */
#ifndef KEEL_PT_FORMAT_H
#define KEEL_PT_FORMAT_H

#include <keel/compiler.h>
#include <keel/types.h>

#define PT_MAX_LEVELS 5
#define PT_NODE_ENTRIES_MAX 512 /* 4 KiB / 8 bytes */

/* Format-neutral access rights and attributes of a leaf (pt_prop.flags). */
#define PT_PROP_R (1u << 0)	   /* readable */
#define PT_PROP_W (1u << 1)	   /* writable */
#define PT_PROP_X (1u << 2)	   /* executable */
#define PT_PROP_USER (1u << 3)	   /* accessible from user mode (host formats only) */
#define PT_PROP_GLOBAL (1u << 4)   /* survives address-space switches (host formats only) */
#define PT_PROP_ACCESSED (1u << 5) /* hardware-set accessed bit */
#define PT_PROP_DIRTY (1u << 6)	   /* hardware-set dirty bit */
#define PT_PROP_ALL                                                                             \
	(PT_PROP_R | PT_PROP_W | PT_PROP_X | PT_PROP_USER | PT_PROP_GLOBAL | PT_PROP_ACCESSED | \
	 PT_PROP_DIRTY)
#define PT_PROP_RW (PT_PROP_R | PT_PROP_W)
#define PT_PROP_RX (PT_PROP_R | PT_PROP_X)
#define PT_PROP_RWX (PT_PROP_R | PT_PROP_W | PT_PROP_X)

/* Memory (cache) type of a leaf. Which ones a format can express varies. */
enum pt_cache {
	PT_CACHE_WB = 0,   /* write-back: ordinary RAM */
	PT_CACHE_WT,	   /* write-through */
	PT_CACHE_WC,	   /* write-combining: frame buffers */
	PT_CACHE_WP,	   /* write-protected */
	PT_CACHE_UC,	   /* strong uncacheable: MMIO */
	PT_CACHE_UC_MINUS, /* uncacheable, overridable by MTRR WC (x86 PAT only) */
	PT_CACHE_COUNT
};

/* Properties of one leaf, independent of any format. */
struct pt_prop {
	uint16_t flags; /* PT_PROP_* */
	uint8_t cache;	/* enum pt_cache */
	uint8_t soft;	/* software-available bits; a format refuses more than its soft_bits */
};

#define PT_PROP(f) ((struct pt_prop){ .flags = (f), .cache = PT_CACHE_WB, .soft = 0 })

static inline bool pt_prop_equal(struct pt_prop a, struct pt_prop b)
{
	return a.flags == b.flags && a.cache == b.cache && a.soft == b.soft;
}

/* What a raw entry means. A raw entry of 0 is always PT_ENTRY_ABSENT. */
enum pt_entry_kind {
	PT_ENTRY_ABSENT = 0,
	PT_ENTRY_TABLE, /* points to the next-lower level's node at pa */
	PT_ENTRY_LEAF,	/* maps 2^shift[level] bytes at pa with prop */
};

struct pt_entry {
	enum pt_entry_kind kind;
	paddr_t pa;
	struct pt_prop prop; /* leaves only */
};

struct pt_format {
	const char *name;
	uint8_t levels;			       /* root level; 1 .. PT_MAX_LEVELS */
	uint8_t shift[PT_MAX_LEVELS + 1];      /* [l]: log2 of the bytes one level-l entry maps */
	uint8_t index_bits[PT_MAX_LEVELS + 1]; /* [l]: log2 of the entries of a level-l node */
	uint8_t leaf_levels; /* bit l set: level l may hold a leaf (level 1 always must) */
	uint8_t va_bits;     /* input address width: shift[levels] + index_bits[levels] */
	bool sign_extend;    /* canonical addresses copy bit va_bits-1 into bits 63..va_bits */
	uint8_t pa_bits;     /* largest physical address width the format can encode */
	uint8_t soft_bits;   /* how many pt_prop.soft bits the format stores */
	uint16_t top_first, top_last; /* usable root indices, inclusive */
	/*
	 * Optional: raw(level-1 leaf for pa + 4 KiB) - raw(leaf for pa), when the address
	 * field is a plain binary field so runs of 4 KiB leaves can be written by adding it
	 * (map_range's fast path). 0: always call encode_leaf.
	 */
	uint64_t leaf_pa_step;
	/*
	 * Raw bits of a leaf that hardware may set behind the engine's back (accessed and
	 * dirty), 0 if none. Hardware sets them with locked read-modify-writes and never
	 * clears them, so an edit that keeps information from a leaf (protect, a split,
	 * take_next's report) replaces it with compare-and-exchange unless all of them are
	 * already set (pt_leaf_replace). Discarding edits (unmap) may use plain stores.
	 */
	uint64_t hw_bits;
	/*
	 * True when the TLBs that cache this format's translations offer no per-address
	 * invalidation, only whole ones (per tag, or everything): EPT, whose INVEPT has
	 * single-context and all-context types only (SDM Vol 3C 29.4.3.1). The engine
	 * ignores it; the TLB flusher (kernel/mm/tlb.c) then never asks for ranges.
	 */
	bool no_addr_invalidate;

	/* Raw entry for a table pointer to the level-(level-1) node at pa. Never fails. */
	uint64_t (*encode_table)(paddr_t pa, unsigned level);
	/*
	 * Raw entry for a level-`level` leaf mapping pa (aligned to the leaf size, below
	 * 2^pa_bits). Returns 0 and stores *out, or -ENOTSUP when prop asks for something
	 * the format cannot express (and *out is untouched). Pure. What it accepts at one
	 * leaf level it must accept at every leaf level (splits rely on it).
	 */
	int (*encode_leaf)(paddr_t pa, struct pt_prop prop, unsigned level,
			   uint64_t *out) __must_check;
	/* Decodes a raw level-`level` entry. Pure; 0 decodes as absent. */
	void (*decode)(uint64_t raw, unsigned level, struct pt_entry *out);
};

static inline uint64_t pt_format_level_size(const struct pt_format *f, unsigned level)
{
	return 1ull << f->shift[level];
}

static inline bool pt_format_has_leaf(const struct pt_format *f, unsigned level)
{
	return level >= 1 && level <= f->levels && (f->leaf_levels & (1u << level));
}

/*
 * The real formats (arch/x86_64). pt_format_x86_64 is 4-level x86-64 paging over the
 * whole canonical space; pt_format_x86_64_user is the same format restricted to the
 * lower half (root indices 0..255). pt_format_ept is 4-level Intel EPT.
 */
extern const struct pt_format pt_format_x86_64;
/* False on CPUs without NX: x86 leaves are then all executable (pt_format_x86.c). */
extern bool pt_x86_nx;

/*
 * The descriptors this machine can use: the full formats above, or variants without
 * 1 GiB leaves when the CPU (or its EPT) lacks them. Boot code configures them once,
 * before any table is built: pt_x86_configure at start-up, pt_ept_configure in the VMX
 * preflight. Generic code asks for host/guest formats here.
 */
void pt_x86_configure(bool nx, bool gb_pages);
void pt_ept_configure(bool gb_pages);
const struct pt_format *pt_format_host(void);
const struct pt_format *pt_format_host_user(void);
const struct pt_format *pt_format_guest(void);
extern const struct pt_format pt_format_x86_64_user;
extern const struct pt_format pt_format_ept;

#endif
