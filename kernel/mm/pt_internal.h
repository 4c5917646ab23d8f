/*
 * Private helpers of the page-table engine (pt_*.c). Not for users of pt.h.
 * Node memory is reached only through frame_kva(); entries are read and written with
 * single 64-bit atomic accesses because hardware walkers and lock-free cursor descents
 * read them concurrently.
 *
 * Layers: the engine's files call each other downwards only.
 *   top     pt_cursor.c  the cursor's edits: map, take/unmap, protect, copy_from, splits
 *           pt_table.c   a whole table's creation and teardown
 *   middle  pt_run.c     raw loops over the 4 KiB leaves of one level-1 node
 *   lower   pt_walk.c    the depth-first walker; cursor begin/end and node locking,
 *                        positioning, query, find_next
 *           pt_batch.c   flush batches (deferred freeing), beside the walker: neither
 *                        uses the other
 *   bottom  pt_node.c    nodes before they are published: allocation, pools, new paths
 *           pt_entry.c   raw entries to and from their meaning, memoised
 * The declarations below follow the same order, bottom first, after the inline helpers.
 */
#ifndef KEEL_MM_PT_INTERNAL_H
#define KEEL_MM_PT_INTERNAL_H

#include <keel/check.h>
#include <keel/frame.h>
#include <keel/pt_format.h>
#include <keel/spinlock.h>

#include "pt.h"

/* frame.flags of a FRAME_PT_NODE: set (under the node lock) when the node is detached. */
#define PT_NODE_STRAY 0x1u

static inline uint64_t *pt_node_entries(const struct frame *n)
{
	return frame_kva(n);
}

static inline uint64_t pt_entry_load(const struct frame *n, unsigned idx)
{
	return __atomic_load_n(&pt_node_entries(n)[idx], __ATOMIC_ACQUIRE);
}

/* Release: a new node's contents and lock are visible before the entry naming it. */
static inline void pt_entry_store(struct frame *n, unsigned idx, uint64_t raw)
{
	__atomic_store_n(&pt_node_entries(n)[idx], raw, __ATOMIC_RELEASE);
}

/*
 * Replaces the leaf *slot, last read as *old, by new. Hardware may have set accessed
 * or dirty bits since (pt_format.hw_bits): then nothing is written, *old gets the
 * current value and the result is false, so the caller recomputes from it. A plain
 * store is enough when *old already has every such bit (hardware never clears them).
 */
static inline bool pt_leaf_replace(const struct pt_format *f, uint64_t *slot, uint64_t *old,
				   uint64_t new)
{
	if ((*old & f->hw_bits) == f->hw_bits) {
		__atomic_store_n(slot, new, __ATOMIC_RELEASE);
		return true;
	}
	return __atomic_compare_exchange_n(slot, old, new, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

/* Whether raw values of 4 KiB leaves may be computed by adding the format's step. */
static inline bool pt_has_step(const struct pt_format *f)
{
	uint64_t s = f->leaf_pa_step;

	return s && !(s & (s - 1));
}

static inline bool pt_node_is_stray(const struct frame *n)
{
	return __atomic_load_n(&n->flags, __ATOMIC_RELAXED) & PT_NODE_STRAY;
}

static inline unsigned pt_index(const struct pt_format *f, unsigned level, uint64_t va)
{
	return (unsigned)(va >> f->shift[level]) & ((1u << f->index_bits[level]) - 1);
}

static inline uint64_t pt_size(const struct pt_format *f, unsigned level)
{
	return 1ull << f->shift[level];
}

/* Bytes a whole level-`level` node spans. */
static inline uint64_t pt_span(const struct pt_format *f, unsigned level)
{
	return 1ull << (f->shift[level] + f->index_bits[level]);
}

static inline uint64_t pt_lin_mask(const struct pt_format *f)
{
	return (1ull << f->va_bits) - 1;
}

/* Canonical address of linear position lin (2^va_bits, an exclusive end, gives 0). */
static inline vaddr_t pt_lin_to_va(const struct pt_format *f, uint64_t lin)
{
	if (f->sign_extend && lin == (1ull << f->va_bits))
		return VA(0);
	if (f->sign_extend && (lin >> (f->va_bits - 1)) & 1)
		return VA(lin | ~pt_lin_mask(f));
	return VA(lin);
}

static inline bool pt_va_is_canonical(const struct pt_format *f, uint64_t va)
{
	return pt_lin_to_va(f, va & pt_lin_mask(f)).v == va;
}

/* ---- raw entries (pt_entry.c) */

/*
 * If raw = m->raw + k * step for a k that keeps m->pa + k * 4 KiB a valid address, then
 * raw is the encoding of that address with m->prop (the leaf_pa_step contract): stores
 * it in *pa. False when the memo cannot tell.
 */
bool pt_memo_decode(const struct pt_format *f, const struct pt_leaf_memo *m, uint64_t raw,
		    paddr_t *pa);
/* Decodes the non-zero level-1 entry raw through the memo m, refreshing it. */
void pt_decode_l1(const struct pt_format *f, struct pt_leaf_memo *m, uint64_t raw,
		  struct pt_entry *e);
/* Decodes a raw level-l entry; 0 is absent without asking the format, level 1 memoised. */
void pt_decode_entry(struct pt_cursor *c, uint64_t raw, unsigned level, struct pt_entry *e);
/* encode_leaf, memoised for level 1. Returns 0 or -ENOTSUP. */
int pt_encode_entry(struct pt_cursor *c, paddr_t pa, struct pt_prop prop, unsigned level,
		    uint64_t *raw) __must_check;

/* ---- cursor path helpers (inline: used at every layer) */

/* Entries of the cursor's level-l path node (kernel address cached per level). */
static inline uint64_t *pt_path_entries(struct pt_cursor *c, unsigned l)
{
	if (c->kva_node[l] != c->path[l]) {
		c->kva_node[l] = c->path[l];
		c->entries[l] = pt_node_entries(c->path[l]);
	}
	return c->entries[l];
}

/* The raw entry of the level-l path node at the position. */
static inline uint64_t pt_path_load(struct pt_cursor *c, unsigned l)
{
	return __atomic_load_n(&pt_path_entries(c, l)[pt_index(c->fmt, l, c->va)],
			       __ATOMIC_ACQUIRE);
}

/*
 * A new, unpublished node spanning [base, base + span) is the cursor's to lock if it
 * meets the range (pt_cursor_end unlocks it with the others). Nobody else can see it
 * yet, so taking its lock out of the global order cannot deadlock.
 */
static inline void pt_lock_if_ours(const struct pt_cursor *c, struct frame *n, uint64_t base,
				   uint64_t span)
{
	if (base < c->end && base + span > c->start)
		spin_lock(&n->lock);
}

static inline void pt_leaf_get(const struct pt_table *t, paddr_t pa, unsigned level)
{
	if (t->leaf_ops)
		t->leaf_ops->get(t->leaf_ops->ctx, pa, level);
}

/* ---- unpublished nodes (pt_node.c) */

/* A zeroed level-`level` node with an initialised, unlocked lock, or NULL. */
struct frame *pt_node_alloc(unsigned level);
/* The same with undefined entries: the caller writes all of them before publishing. */
struct frame *pt_node_alloc_raw(unsigned level);
/* Frees a node that was never published. */
void pt_node_free_unpublished(struct frame *n);
/* Allocates count zeroed nodes onto pool (all or none). Returns 0 or -ENOMEM. */
int pt_fill_pool(struct list_node *pool, unsigned long count) __must_check;
/* Takes a node of the pool (which must not be empty) for level `level`. */
struct frame *pt_pool_take(struct list_node *pool, unsigned level);
/*
 * Writes the entry raw (a leaf, or a table pointer to an unpublished node) at level L
 * below the absent entry at c->level, creating the missing nodes between (allocated
 * first), and leaves the path at level L. Returns 0 or -ENOMEM (nothing changed).
 */
int pt_map_new_path(struct pt_cursor *c, unsigned L, uint64_t raw) __must_check;

/* ---- explicit depth-first walker over the nodes of a subtree (pt_walk.c) */

enum pt_dfs_event {
	PT_DFS_DONE = 0,
	PT_DFS_ENTER, /* it->node is a node being entered (pre-order) */
	PT_DFS_LEAF,  /* it->entry at it->va, level it->level, in it->node */
	PT_DFS_EXIT,  /* it->node has been fully visited (post-order) */
};

/*
 * Visits the entries of the subtree rooted at a level-`top` node that intersect
 * [lo, hi). Reads entries as it goes: the caller must own (lock) them or know them
 * quiescent. It may unlock or queue a node on its EXIT event.
 */
struct pt_dfs {
	const struct pt_format *fmt;
	uint64_t lo, hi;
	unsigned top, cur; /* start level; level of the node being scanned */
	bool started, done;
	bool tables_only; /* skip scanning level-1 nodes (they hold no tables): no LEAF events */
	struct frame *stack[PT_MAX_LEVELS + 1];
	uint64_t next[PT_MAX_LEVELS + 1]; /* next linear address to scan in stack[l] */
	uint64_t end[PT_MAX_LEVELS + 1];  /* end of stack[l]'s scan */
	/* the event's subject */
	struct frame *node;
	unsigned level;
	unsigned idx; /* LEAF: entry index in node; ENTER: index in the parent */
	uint64_t va;  /* LEAF/ENTER: linear start of the entry */
	struct pt_entry entry;
};

void pt_dfs_init(struct pt_dfs *it, const struct pt_format *f, struct frame *root, unsigned top,
		 uint64_t base, uint64_t lo, uint64_t hi);
enum pt_dfs_event pt_dfs_next(struct pt_dfs *it);

/* ---- cursor positioning (pt_walk.c) */

/* Moves the position to va, climbing the path only as far as needed. */
void pt_cursor_seek(struct pt_cursor *c, uint64_t va);
/*
 * Follows table entries down from c->level for c->va; on return c->level is the level
 * of the first non-table entry, decoded into *e.
 */
void pt_cursor_descend(struct pt_cursor *c, struct pt_entry *e);
/* End of a window of len bytes from the position, clipped to the range. */
uint64_t pt_cursor_window_end(const struct pt_cursor *c, uint64_t len);

/* ---- flush batches (pt_batch.c) */

void pt_batch_add_range(struct pt_flush_batch *b, const struct pt_format *f, uint64_t lo,
			uint64_t len);
/*
 * Defers the references of count leaves of one level (size 2^shift) at pa, pa + size,
 * ... until after the next flush; extends the last run when contiguous. Callers record
 * the leaves' flush range first (growing the batch may flush early). ops NULL: nothing.
 */
void pt_batch_defer_run(struct pt_flush_batch *b, const struct pt_leaf_ops *ops, paddr_t pa,
			uint64_t count, unsigned level, unsigned shift);
void pt_batch_defer_node(struct pt_flush_batch *b, struct frame *n);

/* ---- runs of 4 KiB leaves (pt_run.c) */

/*
 * pt_cursor_map's fast path for a 4 KiB leaf: with the props last encoded, into an
 * empty entry of the level-1 node on the cursor's path. Returns false (nothing done)
 * when any of that does not hold; the full path then decides.
 */
bool pt_map_fast(struct pt_cursor *c, paddr_t pa, struct pt_prop prop);
/*
 * After a 4 KiB leaf went into the level-1 node path[1] (so prop is expressible), maps
 * up to len more bytes of 4 KiB leaves from the position straight into that node while
 * its entries are empty and no larger leaf could start. Returns the bytes mapped; the
 * position moves past them.
 */
uint64_t pt_map_fill(struct pt_cursor *c, paddr_t pa, uint64_t len, struct pt_prop prop);
/*
 * map_range's path for a whole level-1 node of 4 KiB leaves: when the position starts
 * a level-1 span that is not there yet and len covers it, fills a new node with every
 * leaf before publishing it (no entry of it is ever seen empty or half-written by a
 * walker). Returns the bytes mapped (0: not applicable, nothing done) and sets *err on
 * -ENOMEM (nothing changed). The caller checked the window is empty.
 */
uint64_t pt_map_node(struct pt_cursor *c, paddr_t pa, uint64_t len, struct pt_prop prop, int *err);
/*
 * Removes every leaf of the level-1 node path[1] from the position to limit (or the
 * node's end), recording flushes and deferring references; moves past them.
 */
void pt_unmap_node(struct pt_cursor *c, uint64_t limit);
/*
 * protect over the level-1 node path[1] from the position to limit (or the node's end).
 * Returns 0 (moved past them) or -ENOTSUP (position at the refused leaf; earlier ones
 * done).
 */
int pt_protect_node(struct pt_cursor *c, uint64_t limit, pt_protect_fn op, void *arg);
/*
 * Defers to b the references of the leaves of t's level-1 node n, which is detached
 * (its flush already recorded). Returns how many leaves it holds if count, else 0 (a
 * table without leaf ops then never reads the node).
 */
uint64_t pt_node_defer_leaves(const struct pt_table *t, struct pt_flush_batch *b,
			      const struct frame *n, bool count);

#endif
