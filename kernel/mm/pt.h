/*
 * The page-table cursor engine: one generic editor for every page table the machine has
 * (x86-64 host tables, EPT guest tables, the fake format of the host tests), driven by a
 * format descriptor (include/keel/pt_format.h). It knows no x86 bit and no TLB
 * instruction: flushing is delegated through struct pt_flush_batch.
 *
 * Addresses. A cursor's range and positions are vaddr_t in the format's canonical form
 * (sign-extended for x86-64, zero-extended for EPT and the fake format). The exclusive
 * end of a range may be 0 to mean 2^64, the only way to name a range that ends at the
 * last page of a sign-extended upper half.
 *
 * References. Each leaf holds one reference on its physical memory through the table's
 * struct pt_leaf_ops: get() when the leaf is written (map, map_range, copy_from, and for
 * each smaller leaf a split creates), put() only after the TLB flush that makes the
 * removal visible on every CPU. A split is the exception: the huge leaf's reference is
 * put() at once, after its first small leaf took one on the same pa, so the count never
 * touches zero and the translation never changed. The caller keeps its own reference;
 * map does not consume it.
 *
 * Concurrency. A cursor owns [start, end) of one table while it lives: cursors on
 * disjoint ranges run in parallel unless they share a table node (they then serialise on
 * that node's lock), overlapping ones wait for each other. pt_cursor_begin descends
 * lock-free to the lowest node holding every entry the cursor might replace (so a range
 * that is exactly one 2 MiB entry locks the node holding that entry, not the child
 * below it), installing missing nodes on the way, locks it and then every existing
 * node below it that intersects the range, top-down and in address order. Lock order
 * (node locks, two cursors on one CPU, everything else): see the top of
 * kernel/mm/pt_walk.c. Node locks are plain spinlocks taken with interrupts untouched:
 * cursors must not be used from interrupt handlers, and a cursor's thread must not
 * migrate CPUs while the cursor lives (it is inside a per-CPU epoch read section,
 * kernel/mm/epoch.h). One CPU must not hold two cursors that share a node (it would
 * deadlock on itself; debug builds panic): copy_from is meant for two different tables.
 *
 * Hardware-set bits. A hardware walker may set a leaf's accessed/dirty bits (the
 * format's hw_bits) at any moment while the space runs. Edits whose result depends on
 * a leaf's old value (protect, splitting a huge leaf, take_next's report of what it
 * removed) replace it by compare-and-exchange (exchange for take_next), so such a bit
 * is never lost; unmap, which discards the leaf, stores plainly. The cost is one
 * locked instruction per such leaf unless both bits are already set.
 *
 * Deferred freeing. Removed leaves and detached nodes go to the cursor's
 * struct pt_flush_batch. Leaf references are dropped after the batch's flush hook ran;
 * node frames are freed after the flush and an epoch grace period (no lock-free walker
 * can still be inside them), in pt_flush_batch_finish, which must be called after
 * pt_cursor_end.
 */
#ifndef KEEL_MM_PT_H
#define KEEL_MM_PT_H

#include <keel/compiler.h>
#include <keel/frame.h>
#include <keel/list.h>
#include <keel/pt_format.h>
#include <keel/types.h>

/*
 * How a table holds references on the memory its leaves map. get() runs under node
 * locks when a leaf is written; put() runs after the removal was flushed (from the
 * batch: possibly mid-operation under node locks, or in pt_flush_batch_finish). `level`
 * is the leaf's level (its size is pt_format_level_size). When a huge leaf is split, each
 * new smaller leaf gets a get() and then the huge leaf's reference is put() at once.
 */
struct pt_leaf_ops {
	void (*get)(void *ctx, paddr_t pa, unsigned level);
	void (*put)(void *ctx, paddr_t pa, unsigned level);
	void *ctx;
};

/*
 * Default leaf ops: every leaf holds a reference on the head of the frame block it
 * maps into (frame_head), freed with frame_free(head, head->order) on the last put.
 * A huge leaf over an order-9 block holds one; after a split each of its 512 small
 * leaves holds one on the same head, so the block lives until the last of them goes.
 * Leaves must map allocated frames. Pass NULL as leaf ops for a table that holds no
 * references (e.g. guest RAM owned elsewhere, MMIO).
 */
extern const struct pt_leaf_ops pt_leaf_ops_frame;

struct pt_flush_batch;

struct pt_table {
	const struct pt_format *fmt; /* [c] const after init */
	struct frame *root;	     /* [c] root node; never detached, freed by pt_table_fini */
	const struct pt_leaf_ops *leaf_ops; /* [c] may be NULL: no references held */
	/*
	 * [c] Root entries that point to a node keep pointing to it: take/unmap descend
	 * below them instead of detaching the node. For a table whose root entries are
	 * copied into other roots (the kernel table's upper half, shared by every host
	 * space). Set after pt_table_init, before the table is shared.
	 */
	bool keep_root_entries;
};

/* Allocates an empty root. Returns 0 or -ENOMEM. */
int pt_table_init(struct pt_table *t, const struct pt_format *fmt,
		  const struct pt_leaf_ops *leaf_ops) __must_check;
/*
 * Removes every mapping and node of t. Leaves are put() after b's flush; nodes (the
 * root included) are freed by pt_flush_batch_finish(b). No cursor may exist on t.
 */
void pt_table_fini(struct pt_table *t, struct pt_flush_batch *b);
/* Physical address of the root node (for CR3 / EPTP). */
paddr_t pt_table_root_pa(const struct pt_table *t);

/* ---- Flush batches: the hook between the engine and the TLB flusher (kernel/mm/tlb.c) */

#define PT_FLUSH_RANGE_MAX 32 /* past this, the batch asks for a full flush */
/*
 * Runs of deferred leaf references held inside the batch itself. Past them the batch
 * chains 4 KiB frames from frame_alloc (each holds PT_FLUSH_CHUNK_RUNS runs), so one
 * operation of any size makes one flush; only when that allocation fails does the
 * batch flush early (mid-operation, node locks held) to empty itself.
 */
#define PT_BATCH_INLINE_RUNS 64

struct pt_flush_ops {
	/*
	 * Makes every CPU drop cached translations and paging-structure entries for the
	 * recorded ranges (b->range[], or everything when b->flush_all). May be called
	 * with node locks held (interrupts enabled, as the cursor user left them): when
	 * the batch could not grow (frame_alloc failed); must not take node locks.
	 */
	void (*flush)(struct pt_flush_batch *b);
};

struct pt_flush_range {
	vaddr_t start; /* canonical */
	uint64_t len;
};

/* count leaves of one level, at pa, pa + 2^shift, ..., each holding one reference */
struct pt_deferred_run {
	paddr_t pa;
	const struct pt_leaf_ops *ops;
	uint32_t count;
	uint8_t level;
	uint8_t shift; /* log2 of the leaf size */
};

#define PT_FLUSH_CHUNK_RUNS (PAGE_SIZE / sizeof(struct pt_deferred_run))

/*
 * One batch per operation (or series of operations). Single-threaded: owned by the
 * CPU that uses it. Fields are readable by the flush hook.
 */
struct pt_flush_batch {
	const struct pt_flush_ops *ops; /* NULL: nothing to flush (tests, unused tables) */
	void *ctx;			/* for the hook (the vm_space) */
	struct pt_flush_range range[PT_FLUSH_RANGE_MAX];
	unsigned range_count;
	bool flush_all;					  /* ranges overflowed */
	struct pt_deferred_run run[PT_BATCH_INLINE_RUNS]; /* inline runs, then the chunks */
	unsigned run_count;				  /* inline runs in use */
	struct list_node chunks; /* more runs: FRAME_KERNEL frames via frame.link, priv = used */
	struct pt_deferred_run *last; /* the run a contiguous leaf extends, or NULL */
	uint64_t leaf_count;	      /* deferred references waiting for the flush */
	struct list_node nodes;	      /* detached node frames, via frame.link */
	uint64_t node_count;	      /* nodes waiting on the list */
	uint64_t flush_count;	      /* statistics: hook calls */
	uint64_t early_flush_count;   /* statistics: flushes because the batch could not grow */
	uint64_t leaf_put_count;      /* statistics: leaf references dropped */
	uint64_t node_free_count;     /* statistics: nodes freed */
};

void pt_flush_batch_init(struct pt_flush_batch *b, const struct pt_flush_ops *ops, void *ctx);
/*
 * Flushes what is recorded, drops deferred leaf references, waits for an epoch grace
 * period and frees detached nodes. The batch is empty and reusable afterwards. Call with
 * no cursor alive on this CPU and no spinlock held with interrupts disabled (it waits
 * for other CPUs).
 */
void pt_flush_batch_finish(struct pt_flush_batch *b);
/* True if the batch records nothing. */
bool pt_flush_batch_is_empty(const struct pt_flush_batch *b);

/* ---- Cursors */

enum pt_item_kind {
	PT_ITEM_NONE = 0, /* nothing mapped: [va, va + size) is one absent entry */
	PT_ITEM_LEAF,	  /* a leaf: [va, va + size) -> [pa, pa + size) with prop */
	PT_ITEM_SUBTREE,  /* take_next detached a whole node: [va, va + size), leaf_count leaves */
};

struct pt_item {
	enum pt_item_kind kind;
	vaddr_t va; /* canonical start of the item (a huge leaf's start, even before the cursor) */
	uint64_t size;
	unsigned level;	     /* level of the entry */
	paddr_t pa;	     /* PT_ITEM_LEAF */
	struct pt_prop prop; /* PT_ITEM_LEAF */
	uint64_t leaf_count; /* PT_ITEM_SUBTREE: leaves it held (already deferred to the batch) */
};

/*
 * A level-1 leaf the cursor decoded or encoded: raw is the format's encoding of (pa,
 * prop). With the format's leaf_pa_step, raw + k * step encodes (pa + k * 4 KiB, prop)
 * for every valid pa, which lets runs of leaves skip decode/encode (pt_entry.c,
 * pt_run.c).
 */
struct pt_leaf_memo {
	uint64_t raw;
	paddr_t pa;
	struct pt_prop prop;
	bool valid;
};

/*
 * Lock legend: [c] const while the cursor lives  [w] the cursor's own CPU only.
 * Positions are linear (the canonical address with the sign-extension bits cleared).
 * path[l] for guard_level >= l >= level is the level-l node covering va; lower entries
 * are stale. entries[l] caches the kernel address of the node kva_node[l].
 */
struct pt_cursor {
	struct pt_table *table;	      /* [c] */
	const struct pt_format *fmt;  /* [c] */
	struct pt_flush_batch *batch; /* [c] */
	uint64_t start, end;	      /* [c] linear range, end exclusive (may be 2^va_bits) */
	uint64_t va;		      /* [w] linear position */
	unsigned level;		      /* [w] lowest valid path level */
	unsigned guard_level;	      /* [c] level of the locked covering node */
	unsigned epoch_cpu;	      /* [c] epoch slot entered by begin */
	struct frame *path[PT_MAX_LEVELS + 1];	   /* [w] */
	struct frame *kva_node[PT_MAX_LEVELS + 1]; /* [w] */
	uint64_t *entries[PT_MAX_LEVELS + 1];	   /* [w] */
	struct pt_leaf_memo dec, enc;		   /* [w] last level-1 leaf decoded / encoded */
};

/*
 * Starts a cursor over [start, end) of t, positioned at start, recording removals in b
 * (which must outlive the cursor). Waits for overlapping cursors. Returns 0, or -EINVAL
 * if the range is empty, reversed, not page-aligned, non-canonical, crosses the
 * canonical hole, or lies outside the format's usable root indices.
 */
int pt_cursor_begin(struct pt_cursor *c, struct pt_table *t, vaddr_t start, vaddr_t end,
		    struct pt_flush_batch *b) __must_check;
/* Unlocks everything and leaves the epoch. The batch still has to be finished. */
void pt_cursor_end(struct pt_cursor *c);

/* Current position (canonical). */
vaddr_t pt_cursor_va(const struct pt_cursor *c);
/*
 * Moves to va (page-aligned, start <= va < end). Returns 0 or -EINVAL (position kept).
 */
int pt_cursor_jump(struct pt_cursor *c, vaddr_t va) __must_check;
/*
 * Describes what covers the current position: PT_ITEM_LEAF (possibly a huge leaf
 * starting before it) or PT_ITEM_NONE (the absent entry around it). Does not move.
 * Returns 0, or -ENOENT when the cursor is at the end of its range.
 */
int pt_cursor_query(struct pt_cursor *c, struct pt_item *out) __must_check;
/*
 * Finds the first leaf overlapping [va, va + len) (clipped to the range), moves to
 * max(va, leaf start) and describes it. Returns 0, or -ENOENT (cursor moved to the end of
 * the searched window).
 */
int pt_cursor_find_next(struct pt_cursor *c, uint64_t len, struct pt_item *out) __must_check;

/*
 * Maps one leaf of `size` bytes (a size the format has a leaf level for) at the
 * position to pa, taking a leaf reference, and advances past it. Returns 0; -EINVAL
 * (size not a leaf size, va/pa unaligned, beyond the range, cursor at its end, or pa too
 * wide); -ENOTSUP
 * (prop not expressible); -EEXIST (something is mapped there: nothing changes);
 * -ENOMEM (nothing changes).
 */
int pt_cursor_map(struct pt_cursor *c, paddr_t pa, uint64_t size, struct pt_prop prop) __must_check;
/*
 * Maps [va, va + len) to [pa, pa + len) using the largest leaves that the alignment of
 * both addresses allows, and advances past it. Returns 0 or the errors of pt_cursor_map:
 * -EEXIST is detected before any change; on -ENOMEM the leaves already written are
 * removed again (their references deferred to the batch), so the mappings are as before,
 * though empty intermediate nodes may remain.
 */
int pt_cursor_map_range(struct pt_cursor *c, uint64_t len, paddr_t pa,
			struct pt_prop prop) __must_check;

/*
 * Removes the next mapped thing in [va, va + len): a leaf inside the window, or a whole
 * node whose span lies inside it (PT_ITEM_SUBTREE, its nodes marked stray). A huge leaf
 * only partly inside is split first. Records the flush and defers references/nodes to
 * the batch, describes what was removed in *out and moves past it. Returns 0, -ENOENT
 * (nothing left; cursor at window end) or -ENOMEM (a split failed; nothing changed by
 * this call).
 */
int pt_cursor_take_next(struct pt_cursor *c, uint64_t len, struct pt_item *out) __must_check;
/* Removes everything in [va, va + len) (take_next until -ENOENT). 0 or -ENOMEM. */
int pt_cursor_unmap(struct pt_cursor *c, uint64_t len) __must_check;

/*
 * Changes a leaf's properties in place; it may keep or refuse the result. Must be a pure
 * function of *prop and arg: pt_cursor_protect calls it once per run of leaves whose
 * properties are equal and whose pa follow each other, not once per leaf.
 */
typedef void (*pt_protect_fn)(struct pt_prop *prop, void *arg);
/*
 * Applies op to the next leaf overlapping [va, va + len), splitting a huge leaf that is
 * only partly inside, records the flush and moves past it; *out describes the new leaf.
 * Returns 0, -ENOENT (nothing mapped left; cursor at window end), -ENOTSUP (op's result is
 * not expressible: leaf unchanged) or -ENOMEM (split failed: unchanged).
 */
int pt_cursor_protect_next(struct pt_cursor *c, uint64_t len, pt_protect_fn op, void *arg,
			   struct pt_item *out) __must_check;
/* protect_next over the whole window. 0, -ENOTSUP or -ENOMEM (earlier leaves stay done). */
int pt_cursor_protect(struct pt_cursor *c, uint64_t len, pt_protect_fn op, void *arg) __must_check;

/* copy_from flags */
#define PT_COPY_WRITE_PROTECT (1u << 0) /* clear W on the source and the copy (COW fork) */

/*
 * Fork-style sharing: every leaf of src in [src.va, src.va + len) is mapped at the same
 * offset from dst's position, with the same pa and properties, taking a leaf reference
 * through dst's table. Leaf sizes are kept when dst's format and alignment allow, else
 * the largest that fit are used. With PT_COPY_WRITE_PROTECT, W is cleared in the copy
 * and (after the copy succeeded) in the source, whose flush goes to src's batch. dst must
 * be empty over the window (-EEXIST, nothing changed). -ENOMEM: dst's new leaves are
 * removed again and both positions stay; src is unchanged, except that with
 * PT_COPY_WRITE_PROTECT a failure while splitting a source huge leaf that straddles the
 * window can leave part of the source write-protected (only extra write faults). On
 * success both cursors advance by len. Returns 0 or an error.
 */
int pt_cursor_copy_from(struct pt_cursor *dst, struct pt_cursor *src, uint64_t len,
			unsigned flags) __must_check;

/* Statistics: times pt_cursor_begin found its locked node detached and restarted. */
uint64_t pt_stat_stray_retries(void);

#endif
