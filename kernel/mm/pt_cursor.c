/*
 * Page-table engine, top layer: the cursor's edits. Map, take/unmap, protect,
 * copy_from and the splitting of huge leaves. Every edit allocates what it needs first
 * and then commits with single-entry stores; new nodes are filled (and locked, when
 * they intersect the cursor's range) before the one store that publishes them. Uses
 * the runs, the walker, the batch, nodes and entries; nothing below calls back here.
 * Knows no format bits and no TLB instruction.
 */
#include <keel/errno.h>
#include <keel/spinlock.h>

#include "pt_internal.h"

static unsigned pt_level_of_size(const struct pt_format *f, uint64_t size)
{
	for (unsigned l = 1; l <= f->levels; l++) {
		if (pt_size(f, l) == size && pt_format_has_leaf(f, l))
			return l;
	}
	return 0;
}

/*
 * Nodes that splitting a level-L leaf needs: one level-(L-1) node, plus full levels of
 * tables down to the first level that may hold leaves (*leaf_level).
 */
static unsigned long pt_split_cost(const struct pt_format *f, unsigned L, unsigned *leaf_level)
{
	unsigned long count = 1, per = 1;
	unsigned l = L - 1;

	while (!pt_format_has_leaf(f, l)) {
		per <<= f->index_bits[l];
		count += per;
		l--;
	}
	*leaf_level = l;
	return count;
}

/*
 * Fills a fresh subtree equivalent to the level-L leaf e covering [base, ...): full
 * nodes from level L-1 down to leaf_level, each leaf taking a reference. Iterative,
 * with one stack slot per level. Returns the level-(L-1) node.
 */
static struct frame *pt_build_split(struct pt_cursor *c, struct list_node *pool, unsigned L,
				    unsigned leaf_level, uint64_t base, const struct pt_entry *e)
{
	const struct pt_format *f = c->fmt;
	struct frame *node[PT_MAX_LEVELS + 1];
	uint64_t nbase[PT_MAX_LEVELS + 1];
	unsigned i[PT_MAX_LEVELS + 1];
	unsigned l = L - 1;

	node[l] = pt_pool_take(pool, l);
	pt_lock_if_ours(c, node[l], base, pt_size(f, L));
	nbase[l] = base;
	i[l] = 0;
	for (;;) {
		uint64_t va = nbase[l] + (uint64_t)i[l] * pt_size(f, l);
		paddr_t pa = PA(e->pa.v + (va - base));
		uint64_t raw;

		if (i[l] == 1u << f->index_bits[l]) {
			if (l == L - 1)
				return node[l];
			l++;
			continue;
		}
		i[l]++;
		if (l == leaf_level) {
			CHECK(f->encode_leaf(pa, e->prop, l, &raw) == 0);
			pt_entry_store(node[l], i[l] - 1, raw);
			pt_leaf_get(c->table, pa, l);
			continue;
		}
		node[l - 1] = pt_pool_take(pool, l - 1);
		pt_lock_if_ours(c, node[l - 1], va, pt_size(f, l));
		pt_entry_store(node[l], i[l] - 1, f->encode_table(frame_pa(node[l - 1]), l));
		l--;
		nbase[l] = va;
		i[l] = 0;
	}
}

/*
 * Gives every leaf of the unpublished subtree top (built by pt_build_split for a
 * level-L leaf at base) the properties prop: the huge leaf gained accessed/dirty bits
 * while the subtree was being built. Same pa, so references are unchanged.
 */
static void pt_split_refresh(struct pt_cursor *c, struct frame *top, unsigned L, uint64_t base,
			     struct pt_prop prop)
{
	const struct pt_format *f = c->fmt;
	struct pt_dfs it;
	enum pt_dfs_event ev;
	uint64_t raw;

	pt_dfs_init(&it, f, top, L - 1, base, base, base + pt_size(f, L));
	while ((ev = pt_dfs_next(&it)) != PT_DFS_DONE) {
		if (ev != PT_DFS_LEAF)
			continue;
		CHECK(f->encode_leaf(it.entry.pa, prop, it.level, &raw) == 0);
		pt_entry_store(it.node, it.idx, raw);
	}
}

/*
 * Replaces the huge leaf at c->level covering the position by an equivalent subtree
 * of smaller leaves. The translation does not change, so no flush is needed for the
 * split itself; later edits flush what they change (INVLPG of any address inside a
 * large page drops that page's whole entry, SDM Vol 3A 4.10.4.1; EPT is flushed by
 * context). The small leaves inherit the accessed/dirty bits the huge leaf has when the
 * subtree replaces it (compare-and-exchange). The huge leaf's reference is put at once:
 * its first small leaf took one on the same pa. Returns 0 or -ENOMEM (nothing changed).
 */
static int pt_split(struct pt_cursor *c)
{
	const struct pt_format *f = c->fmt;
	unsigned L = c->level, leaf_level;
	uint64_t base = ALIGN_DOWN(c->va, pt_size(f, L));
	uint64_t *slot = &pt_path_entries(c, L)[pt_index(f, L, c->va)];
	uint64_t old = __atomic_load_n(slot, __ATOMIC_ACQUIRE), table;
	struct list_node pool;
	struct pt_entry e, now;
	struct frame *top;

	f->decode(old, L, &e);
	CHECK(L > 1 && e.kind == PT_ENTRY_LEAF);
	if (pt_fill_pool(&pool, pt_split_cost(f, L, &leaf_level)))
		return -ENOMEM;
	top = pt_build_split(c, &pool, L, leaf_level, base, &e);
	CHECK(list_is_empty(&pool));
	table = f->encode_table(frame_pa(top), L);
	while (!pt_leaf_replace(f, slot, &old, table)) {
		f->decode(old, L, &now); /* only hardware-set bits can have changed */
		CHECK(now.kind == PT_ENTRY_LEAF && now.pa.v == e.pa.v);
		pt_split_refresh(c, top, L, base, now.prop);
	}
	if (c->table->leaf_ops)
		c->table->leaf_ops->put(c->table->leaf_ops->ctx, e.pa, L);
	return 0;
}

/*
 * Detaches the subtree under entry idx of the locked level-`level` node parent (which
 * covers linear base): clears the entry, marks and unlocks every node of it, defers its
 * leaves and nodes to the batch and records the flush. Returns the number of leaves if
 * count, else only those above level 1.
 */
static uint64_t pt_cursor_detach(struct pt_cursor *c, struct frame *parent, unsigned level,
				 unsigned idx, uint64_t base, bool count)
{
	const struct pt_format *f = c->fmt;
	struct pt_entry e;
	struct pt_dfs it;
	enum pt_dfs_event ev;
	uint64_t leaves = 0;

	f->decode(pt_entry_load(parent, idx), level, &e);
	CHECK(e.kind == PT_ENTRY_TABLE);
	pt_entry_store(parent, idx, 0);
	pt_batch_add_range(c->batch, f, base, pt_size(f, level));
	pt_dfs_init(&it, f, frame_of(e.pa), level - 1, base, base, base + pt_size(f, level));
	it.tables_only = true; /* level-1 nodes are scanned raw, on their EXIT */
	while ((ev = pt_dfs_next(&it)) != PT_DFS_DONE) {
		if (ev == PT_DFS_ENTER) {
			__atomic_fetch_or(&it.node->flags, PT_NODE_STRAY, __ATOMIC_RELAXED);
		} else if (ev == PT_DFS_LEAF) {
			pt_batch_defer_run(c->batch, c->table->leaf_ops, it.entry.pa, 1, it.level,
					   f->shift[it.level]);
			leaves++;
		} else {
			if (it.level == 1)
				leaves += pt_node_defer_leaves(c->table, c->batch, it.node, count);
			spin_unlock(&it.node->lock);
			pt_batch_defer_node(c->batch, it.node);
		}
	}
	return leaves;
}

/* True if the subtree under the table entry e (level L, span from base) has a leaf. */
static bool pt_subtree_has_leaf(const struct pt_cursor *c, const struct pt_entry *e, unsigned L,
				uint64_t base)
{
	struct pt_dfs it;
	enum pt_dfs_event ev;

	pt_dfs_init(&it, c->fmt, frame_of(e->pa), L - 1, base, base, base + pt_size(c->fmt, L));
	while ((ev = pt_dfs_next(&it)) != PT_DFS_DONE) {
		if (ev == PT_DFS_LEAF)
			return true;
	}
	return false;
}

/* Maps the encoded level-L leaf raw (for pa) at the position. See pt_cursor_map. */
static int pt_map_leaf(struct pt_cursor *c, paddr_t pa, unsigned L, uint64_t raw)
{
	const struct pt_format *f = c->fmt;
	struct pt_entry e;
	int err = 0;

	pt_cursor_descend(c, &e);
	if (e.kind == PT_ENTRY_LEAF && c->level >= L)
		return -EEXIST;
	if (c->level > L) {
		err = pt_map_new_path(c, L, raw);
	} else if (c->level == L) {
		__atomic_store_n(&pt_path_entries(c, L)[pt_index(f, L, c->va)], raw,
				 __ATOMIC_RELEASE);
	} else {
		/* An (emptied) table where the leaf goes: replace it if nothing is below. */
		if (L == f->levels && c->table->keep_root_entries)
			return -EEXIST;
		c->level = L;
		f->decode(pt_entry_load(c->path[L], pt_index(f, L, c->va)), L, &e);
		if (pt_subtree_has_leaf(c, &e, L, c->va))
			return -EEXIST;
		(void)pt_cursor_detach(c, c->path[L], L, pt_index(f, L, c->va), c->va, false);
		pt_entry_store(c->path[L], pt_index(f, L, c->va), raw);
	}
	if (!err)
		pt_leaf_get(c->table, pa, L);
	return err;
}

/* Validates and encodes a leaf of `size` at the position. Returns its level or < 0. */
static int pt_prepare_leaf(struct pt_cursor *c, paddr_t pa, uint64_t size, struct pt_prop prop,
			   uint64_t *raw)
{
	const struct pt_format *f = c->fmt;
	unsigned L = size == pt_size(f, 1) ? 1 : pt_level_of_size(f, size);
	int err;

	if (!L || !IS_ALIGNED(c->va, size) || !IS_ALIGNED(pa.v, size) || c->end - c->va < size ||
	    pa.v >= (1ull << f->pa_bits) - size + 1)
		return -EINVAL;
	err = pt_encode_entry(c, pa, prop, L, raw);
	return err ? err : (int)L;
}

int pt_cursor_map(struct pt_cursor *c, paddr_t pa, uint64_t size, struct pt_prop prop)
{
	uint64_t raw;
	int L, err;

	if (size == pt_size(c->fmt, 1) && pt_map_fast(c, pa, prop))
		return 0;
	if (c->va >= c->end)
		return -EINVAL;
	L = pt_prepare_leaf(c, pa, size, prop, &raw);
	if (L < 0)
		return L;
	err = pt_map_leaf(c, pa, (unsigned)L, raw);
	if (!err)
		pt_cursor_seek(c, c->va + size);
	return err;
}

/* Largest leaf size that fits at va for pa with len bytes left. */
static uint64_t pt_best_size(const struct pt_format *f, uint64_t va, paddr_t pa, uint64_t len)
{
	for (unsigned l = f->levels; l > 1; l--) {
		uint64_t s = pt_size(f, l);

		if (pt_format_has_leaf(f, l) && s <= len && IS_ALIGNED(va | pa.v, s))
			return s;
	}
	return PAGE_SIZE;
}

/* map_range without the emptiness pre-check or rollback. */
static int pt_map_run(struct pt_cursor *c, uint64_t len, paddr_t pa, struct pt_prop prop)
{
	uint64_t done = 0;

	while (done < len) {
		uint64_t s = pt_best_size(c->fmt, c->va, PA(pa.v + done), len - done);
		int err = 0;

		if (s == PAGE_SIZE) {
			uint64_t n = pt_map_node(c, PA(pa.v + done), len - done, prop, &err);

			if (err)
				return err;
			done += n;
			if (n)
				continue;
		}
		err = pt_cursor_map(c, PA(pa.v + done), s, prop);

		if (err)
			return err;
		done += s;
		if (s == PAGE_SIZE)
			done += pt_map_fill(c, PA(pa.v + done), len - done, prop);
	}
	return 0;
}

/* Removes [from, c->va) again after a failed multi-leaf map; position back at from. */
static void pt_rollback(struct pt_cursor *c, uint64_t from)
{
	uint64_t to = c->va;
	struct pt_item item;

	pt_cursor_seek(c, from);
	while (pt_cursor_take_next(c, to - c->va, &item) == 0)
		;
	CHECK(c->va == to);
	pt_cursor_seek(c, from);
}

int pt_cursor_map_range(struct pt_cursor *c, uint64_t len, paddr_t pa, struct pt_prop prop)
{
	uint64_t from = c->va, raw;
	struct pt_item item;
	int err;

	if (!len || !IS_ALIGNED(len | pa.v, PAGE_SIZE) || c->va >= c->end || len > c->end - c->va ||
	    len > (1ull << c->fmt->pa_bits) - pa.v)
		return -EINVAL;
	err = pt_prepare_leaf(c, pa, PAGE_SIZE, prop, &raw);
	if (err < 0)
		return err;
	if (pt_cursor_find_next(c, len, &item) == 0) {
		pt_cursor_seek(c, from);
		return -EEXIST;
	}
	pt_cursor_seek(c, from);
	err = pt_map_run(c, len, pa, prop);
	if (err)
		pt_rollback(c, from);
	return err;
}

/* Describes a removed or changed leaf of level L at linear base. */
static void pt_leaf_item(const struct pt_cursor *c, unsigned L, uint64_t base, paddr_t pa,
			 struct pt_prop prop, struct pt_item *out)
{
	*out = (struct pt_item){ .kind = PT_ITEM_LEAF,
				 .va = pt_lin_to_va(c->fmt, base),
				 .size = pt_size(c->fmt, L),
				 .level = L,
				 .pa = pa,
				 .prop = prop };
}

/*
 * Starts as high as an entry could lie wholly inside [va, limit), but below the root
 * of a table that keeps its root entries (pt_take would only descend again).
 */
static void pt_climb(struct pt_cursor *c, uint64_t limit)
{
	const struct pt_format *f = c->fmt;
	unsigned top = c->guard_level;

	if (c->table->keep_root_entries && top == f->levels)
		top--;
	while (c->level < top && IS_ALIGNED(c->va, pt_size(f, c->level + 1)) &&
	       limit - c->va >= pt_size(f, c->level + 1))
		c->level++;
}

/*
 * take_next up to limit. count: report a detached subtree's leaf_count (which reads its
 * level-1 nodes even when the table holds no references).
 */
static int pt_take(struct pt_cursor *c, uint64_t limit, struct pt_item *out, bool count)
{
	const struct pt_format *f = c->fmt;

	while (c->va < limit) {
		unsigned L, idx;
		uint64_t base, eend;
		bool inside;
		struct pt_entry e;

		pt_climb(c, limit);
		L = c->level;
		idx = pt_index(f, L, c->va);
		base = ALIGN_DOWN(c->va, pt_size(f, L));
		eend = base + pt_size(f, L);
		inside = base == c->va && eend <= limit;

		pt_decode_entry(c, pt_path_load(c, L), L, &e);
		if (e.kind == PT_ENTRY_TABLE && L == f->levels && c->table->keep_root_entries)
			inside = false; /* a shared root entry: empty the node, keep it */
		if (e.kind == PT_ENTRY_ABSENT) {
			pt_cursor_seek(c, eend);
		} else if (e.kind == PT_ENTRY_TABLE && inside) {
			*out = (struct pt_item){ .kind = PT_ITEM_SUBTREE,
						 .va = pt_lin_to_va(f, base),
						 .size = pt_size(f, L),
						 .level = L };
			out->leaf_count = pt_cursor_detach(c, c->path[L], L, idx, base, count);
			pt_cursor_seek(c, eend);
			return 0;
		} else if (e.kind == PT_ENTRY_TABLE) {
			c->path[L - 1] = frame_of(e.pa);
			c->level = L - 1;
		} else if (inside) {
			/* the value removed, with any accessed/dirty bit set until then */
			uint64_t *slot = &pt_path_entries(c, L)[idx];
			uint64_t old = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

			while (!pt_leaf_replace(f, slot, &old, 0))
				;
			pt_decode_entry(c, old, L, &e);
			pt_batch_add_range(c->batch, f, base, pt_size(f, L));
			pt_batch_defer_run(c->batch, c->table->leaf_ops, e.pa, 1, L, f->shift[L]);
			pt_leaf_item(c, L, base, e.pa, e.prop, out);
			pt_cursor_seek(c, eend);
			return 0;
		} else if (pt_split(c)) {
			return -ENOMEM;
		}
	}
	pt_cursor_seek(c, limit);
	return -ENOENT;
}

int pt_cursor_take_next(struct pt_cursor *c, uint64_t len, struct pt_item *out)
{
	return pt_take(c, pt_cursor_window_end(c, len), out, true);
}

int pt_cursor_unmap(struct pt_cursor *c, uint64_t len)
{
	uint64_t limit = pt_cursor_window_end(c, len);
	struct pt_item item;
	int err = 0;

	while (c->va < limit && !err) {
		pt_climb(c, limit);
		if (c->level == 1)
			pt_unmap_node(c, limit); /* a run of 4 KiB leaves: raw loop */
		else
			err = pt_take(c, limit, &item, false);
	}
	return err == -ENOENT ? 0 : err;
}

int pt_cursor_protect_next(struct pt_cursor *c, uint64_t len, pt_protect_fn op, void *arg,
			   struct pt_item *out)
{
	const struct pt_format *f = c->fmt;
	uint64_t limit = pt_cursor_window_end(c, len);

	while (c->va < limit) {
		struct pt_entry e;
		struct pt_prop prop;
		unsigned L;
		uint64_t base, eend, raw;
		int err;

		uint64_t *slot, old;

		pt_cursor_descend(c, &e);
		L = c->level;
		base = ALIGN_DOWN(c->va, pt_size(f, L));
		eend = base + pt_size(f, L);
		if (e.kind == PT_ENTRY_ABSENT) {
			pt_cursor_seek(c, eend);
			continue;
		}
		/* the raw value this edit starts from, decoded again to match it exactly */
		slot = &pt_path_entries(c, L)[pt_index(f, L, c->va)];
		old = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		pt_decode_entry(c, old, L, &e);
		prop = e.prop;
		op(&prop, arg);
		err = pt_encode_entry(c, e.pa, prop, L, &raw);
		if (err)
			return err;
		if (!pt_prop_equal(prop, e.prop) && (base < c->va || eend > limit)) {
			if (pt_split(c))
				return -ENOMEM;
			continue;
		}
		if (!pt_prop_equal(prop, e.prop)) {
			if (!pt_leaf_replace(f, slot, &old, raw))
				continue; /* hardware set accessed/dirty: start again from it */
			pt_batch_add_range(c->batch, f, base, pt_size(f, L));
		}
		pt_leaf_item(c, L, base, e.pa, prop, out);
		pt_cursor_seek(c, MIN(eend, limit));
		return 0;
	}
	pt_cursor_seek(c, limit);
	return -ENOENT;
}

int pt_cursor_protect(struct pt_cursor *c, uint64_t len, pt_protect_fn op, void *arg)
{
	uint64_t limit = pt_cursor_window_end(c, len);
	struct pt_item item;
	struct pt_entry e;
	int err = 0;

	while (c->va < limit && !err) {
		pt_cursor_descend(c, &e);
		if (c->level == 1)
			err = pt_protect_node(c, limit, op, arg); /* raw loop over the node */
		else
			err = pt_cursor_protect_next(c, limit - c->va, op, arg, &item);
	}
	return err == -ENOENT ? 0 : err;
}

static void pt_clear_write(struct pt_prop *prop, void *arg)
{
	(void)arg;
	prop->flags &= (uint16_t)~PT_PROP_W;
}

/* Maps every leaf of src's window into dst (no pre-check, no rollback). */
static int pt_copy_run(struct pt_cursor *dst, struct pt_cursor *src, uint64_t len, unsigned flags)
{
	uint64_t s0 = src->va, d0 = dst->va, send = s0 + len;
	struct pt_item item;

	while (pt_cursor_find_next(src, send - src->va, &item) == 0) {
		uint64_t lo = MAX(item.va.v & pt_lin_mask(src->fmt), s0);
		uint64_t hi = MIN((item.va.v & pt_lin_mask(src->fmt)) + item.size, send);
		uint64_t off = lo - (item.va.v & pt_lin_mask(src->fmt));
		int err;

		if (flags & PT_COPY_WRITE_PROTECT)
			pt_clear_write(&item.prop, NULL);
		pt_cursor_seek(dst, d0 + (lo - s0));
		err = pt_map_run(dst, hi - lo, PA(item.pa.v + off), item.prop);
		if (err)
			return err;
		pt_cursor_seek(src, hi);
	}
	pt_cursor_seek(dst, d0 + len);
	return 0;
}

int pt_cursor_copy_from(struct pt_cursor *dst, struct pt_cursor *src, uint64_t len, unsigned flags)
{
	uint64_t d0 = dst->va, s0 = src->va;
	struct pt_item item;
	int err;

	if (!len || !IS_ALIGNED(len, PAGE_SIZE) || dst->va >= dst->end || src->va >= src->end ||
	    len > dst->end - dst->va || len > src->end - src->va)
		return -EINVAL;
	if (pt_cursor_find_next(dst, len, &item) == 0) {
		pt_cursor_seek(dst, d0);
		return -EEXIST;
	}
	pt_cursor_seek(dst, d0);
	err = pt_copy_run(dst, src, len, flags);
	if (err) {
		pt_rollback(dst, d0);
		pt_cursor_seek(src, s0);
		return err;
	}
	if (flags & PT_COPY_WRITE_PROTECT) {
		pt_cursor_seek(src, s0);
		err = pt_cursor_protect(src, len, pt_clear_write, NULL);
	}
	if (err) {
		/* -ENOMEM splitting a straddling source leaf: drop the copy (the source
		 * keeps whatever was write-protected: harmless extra write faults) */
		pt_cursor_seek(dst, d0 + len);
		pt_rollback(dst, d0);
		pt_cursor_seek(src, s0);
		return err;
	}
	pt_cursor_seek(src, s0 + len);
	return err;
}
