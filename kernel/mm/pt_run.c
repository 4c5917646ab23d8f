/*
 * Page-table engine, above the walker and the batch: runs of 4 KiB leaves. The
 * per-node loops behind map_range, unmap, protect and the detach of whole subtrees
 * step raw level-1 entries instead of decoding and encoding every leaf. The format's
 * leaf_pa_step says that the leaf after (pa, prop) is the same raw value plus the
 * step, so along a run of leaves with one prop and consecutive pa a page costs a
 * compare and an add; anything else goes through pt_entry.c (memoised).
 * Uses the walker (positioning), the batch, nodes and entries; never the cursor
 * operations above it (pt_cursor.c). Knows no format bits and no TLB instruction.
 */
#include <keel/errno.h>
#include <keel/string.h>

#include "pt_internal.h"

/* How many 4 KiB pages from pa (included) the format can encode. */
static uint64_t pt_pages_from(const struct pt_format *f, paddr_t pa)
{
	return ((1ull << f->pa_bits) - pa.v) >> PAGE_SHIFT;
}

bool pt_map_fast(struct pt_cursor *c, paddr_t pa, struct pt_prop prop)
{
	const struct pt_format *f = c->fmt;
	const struct pt_leaf_memo *m = &c->enc;
	uint64_t *slot;

	if (c->level != 1 || c->va >= c->end || !m->valid || !pt_prop_equal(prop, m->prop) ||
	    !pt_has_step(f) || (pa.v & PAGE_MASK) || pa.v >= (1ull << f->pa_bits))
		return false;
	slot = &pt_path_entries(c, 1)[pt_index(f, 1, c->va)];
	if (__atomic_load_n(slot, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(
	    slot, m->raw + ((pa.v >> PAGE_SHIFT) - (m->pa.v >> PAGE_SHIFT)) * f->leaf_pa_step,
	    __ATOMIC_RELEASE);
	pt_leaf_get(c->table, pa, 1);
	pt_cursor_seek(c, c->va + PAGE_SIZE);
	return true;
}

/* First linear address after the level-1 node covering the position, clipped to limit. */
static uint64_t pt_node_stop(const struct pt_cursor *c, uint64_t limit)
{
	uint64_t span = pt_span(c->fmt, 1);

	return MIN(limit, ALIGN_DOWN(c->va, span) + span);
}

/*
 * Writes raw, raw + step, ... into ents[0 .. n). The caller checked that they are
 * empty (map_range and copy_from look at the whole window first).
 */
static void pt_fill_step(uint64_t *ents, uint64_t n, uint64_t raw, uint64_t step)
{
	uint64_t i = 0;

	for (; i + 2 <= n; i += 2, raw += 2 * step) {
		__atomic_store_n(&ents[i], raw, __ATOMIC_RELEASE);
		__atomic_store_n(&ents[i + 1], raw + step, __ATOMIC_RELEASE);
	}
	if (i < n)
		__atomic_store_n(&ents[i], raw, __ATOMIC_RELEASE);
}

/* The same for formats without a usable step: one encode per leaf. */
static uint64_t pt_fill_encode(struct pt_cursor *c, uint64_t *ents, uint64_t n, paddr_t pa,
			       struct pt_prop prop)
{
	uint64_t i, raw;

	for (i = 0; i < n && !__atomic_load_n(&ents[i], __ATOMIC_RELAXED); i++) {
		if (pt_encode_entry(c, PA(pa.v + (i << PAGE_SHIFT)), prop, 1, &raw))
			break;
		__atomic_store_n(&ents[i], raw, __ATOMIC_RELEASE);
	}
	return i;
}

uint64_t pt_map_fill(struct pt_cursor *c, paddr_t pa, uint64_t len, struct pt_prop prop)
{
	const struct pt_format *f = c->fmt;
	uint64_t va = c->va, stop, n, i, raw;
	uint64_t *ents;
	unsigned l2 = 2;

	if (c->level != 1 || va >= c->end)
		return 0;
	stop = pt_node_stop(c, c->end);
	while (l2 <= f->levels && !pt_format_has_leaf(f, l2))
		l2++;
	if (l2 <= f->levels && IS_ALIGNED(va ^ pa.v, pt_size(f, l2)))
		stop = MIN(stop, ALIGN_UP(va + 1, pt_size(f, l2))); /* a larger leaf fits there */
	n = MIN(len, stop - va) >> PAGE_SHIFT;
	ents = pt_path_entries(c, 1) + pt_index(f, 1, va);
	if (pt_encode_entry(c, pa, prop, 1, &raw))
		return 0;
	if (pt_has_step(f)) {
		pt_fill_step(ents, n, raw, f->leaf_pa_step);
		i = n;
	} else {
		i = pt_fill_encode(c, ents, n, pa, prop);
	}
	for (uint64_t j = 0; c->table->leaf_ops && j < i; j++)
		pt_leaf_get(c->table, PA(pa.v + (j << PAGE_SHIFT)), 1);
	pt_cursor_seek(c, va + (i << PAGE_SHIFT));
	return i << PAGE_SHIFT;
}

uint64_t pt_map_node(struct pt_cursor *c, paddr_t pa, uint64_t len, struct pt_prop prop, int *err)
{
	const struct pt_format *f = c->fmt;
	uint64_t span = pt_span(f, 1), count = span >> PAGE_SHIFT, raw, *ents;
	struct pt_entry e;
	struct frame *n;

	if (!pt_has_step(f) || f->levels < 2 || !IS_ALIGNED(c->va, span) || len < span ||
	    c->end - c->va < span || pt_pages_from(f, pa) < count)
		return 0;
	pt_cursor_descend(c, &e);
	if (e.kind != PT_ENTRY_ABSENT || c->level < 2 || pt_encode_entry(c, pa, prop, 1, &raw))
		return 0;
	n = pt_node_alloc_raw(1);
	if (!n) {
		*err = -ENOMEM;
		return 0;
	}
	/* unpublished: plain stores, every one of the node's slots written (no zeroing) */
	ents = pt_node_entries(n);
	for (uint64_t i = 0, v = raw; i < count; i++, v += f->leaf_pa_step)
		ents[i] = v;
	memset(ents + count, 0, (PT_NODE_ENTRIES_MAX - count) * sizeof(*ents));
	spin_lock(&n->lock); /* it lies inside the cursor's range */
	if (pt_map_new_path(c, 2, f->encode_table(frame_pa(n), 2))) {
		spin_unlock(&n->lock);
		pt_node_free_unpublished(n);
		*err = -ENOMEM;
		return 0;
	}
	c->path[1] = n;
	c->level = 1;
	for (uint64_t i = 0; c->table->leaf_ops && i < count; i++)
		pt_leaf_get(c->table, PA(pa.v + (i << PAGE_SHIFT)), 1);
	pt_cursor_seek(c, c->va + span);
	return span;
}

/*
 * Removed level-1 leaves of one table, in address order, on their way to the batch: a
 * pending flush range [rlo, rhi) and a pending run of references (count leaves from
 * pa; the next one in the run would be raw value next). The range is recorded before
 * the run is deferred, since deferring may flush early.
 */
struct pt_sink {
	const struct pt_format *fmt;
	const struct pt_leaf_ops *ops;
	struct pt_flush_batch *batch;
	struct pt_leaf_memo dec;
	uint64_t rlo, rhi;
	paddr_t pa;
	uint64_t count, next;
	uint64_t room; /* leaves the run may hold: pa stays valid (0: no step) */
};

static void pt_sink_init(struct pt_sink *s, const struct pt_table *t, struct pt_flush_batch *b)
{
	*s = (struct pt_sink){ .fmt = t->fmt, .ops = t->leaf_ops, .batch = b };
}

static void pt_sink_emit(struct pt_sink *s)
{
	if (s->rhi != s->rlo)
		pt_batch_add_range(s->batch, s->fmt, s->rlo, s->rhi - s->rlo);
	s->rlo = s->rhi;
	pt_batch_defer_run(s->batch, s->ops, s->pa, s->count, 1, PAGE_SHIFT);
	s->count = 0;
}

/* The leaf raw at lin was removed; with ranges, its flush is to be recorded too. */
static void pt_sink_leaf(struct pt_sink *s, uint64_t lin, uint64_t raw, bool ranges)
{
	const struct pt_format *f = s->fmt;
	struct pt_entry e;

	if (ranges) {
		if (lin != s->rhi) {
			if (s->rhi != s->rlo)
				pt_batch_add_range(s->batch, f, s->rlo, s->rhi - s->rlo);
			s->rlo = lin;
		}
		s->rhi = lin + PAGE_SIZE;
	}
	if (!s->ops)
		return;
	if (s->count && s->count < s->room && raw == s->next) {
		s->count++;
		s->next += f->leaf_pa_step;
		return;
	}
	if (s->count)
		pt_sink_emit(s);
	pt_decode_l1(f, &s->dec, raw, &e);
	CHECK(e.kind == PT_ENTRY_LEAF);
	s->pa = e.pa;
	s->count = 1;
	s->room = pt_has_step(f) ? pt_pages_from(f, e.pa) : 0;
	s->next = raw + f->leaf_pa_step;
}

void pt_unmap_node(struct pt_cursor *c, uint64_t limit)
{
	uint64_t stop = pt_node_stop(c, limit), *ents = pt_path_entries(c, 1);
	unsigned i = pt_index(c->fmt, 1, c->va);
	struct pt_sink s;

	pt_sink_init(&s, c->table, c->batch);
	for (uint64_t lin = c->va; lin < stop; lin += PAGE_SIZE, i++) {
		uint64_t raw = __atomic_load_n(&ents[i], __ATOMIC_RELAXED);

		if (!raw)
			continue;
		__atomic_store_n(&ents[i], 0, __ATOMIC_RELEASE);
		pt_sink_leaf(&s, lin, raw, true);
	}
	pt_sink_emit(&s);
	pt_cursor_seek(c, stop);
}

uint64_t pt_node_defer_leaves(const struct pt_table *t, struct pt_flush_batch *b,
			      const struct frame *n, bool count)
{
	const uint64_t *ents;
	unsigned entries = 1u << t->fmt->index_bits[1];
	uint64_t leaves = 0;
	struct pt_sink s;

	if (!count && !t->leaf_ops)
		return 0;
	ents = pt_node_entries(n);
	pt_sink_init(&s, t, b);
	for (unsigned i = 0; i < entries; i++) {
		uint64_t raw = __atomic_load_n(&ents[i], __ATOMIC_RELAXED);

		/* at level 1 every non-zero entry the engine wrote is a leaf */
		leaves += raw != 0;
		if (raw && t->leaf_ops)
			pt_sink_leaf(&s, 0, raw, false);
	}
	pt_sink_emit(&s);
	return leaves;
}

/*
 * The leaf raw (not the continuation of a run) under protect: applies op, sets *nraw
 * to its new raw value (raw if the props did not change). Returns 0 or the encoding
 * error.
 */
static int pt_protect_leaf(struct pt_cursor *c, uint64_t raw, pt_protect_fn op, void *arg,
			   uint64_t *nraw, paddr_t *pa)
{
	struct pt_entry e;
	struct pt_prop p;
	int err;

	pt_decode_entry(c, raw, 1, &e);
	CHECK(e.kind == PT_ENTRY_LEAF);
	p = e.prop;
	op(&p, arg);
	err = pt_encode_entry(c, e.pa, p, 1, nraw);
	if (!err && pt_prop_equal(p, e.prop))
		*nraw = raw;
	*pa = e.pa;
	return err;
}

/*
 * Continues a run from ents[i]: while the entry is old (then old + step, ...), writes
 * new (new + step, ...) there unless new == old. Returns the index after the run; it
 * ends early at an entry whose accessed/dirty bits hardware changed meanwhile.
 */
static uint64_t pt_rewrite_run(const struct pt_format *f, uint64_t *ents, uint64_t i, uint64_t end,
			       uint64_t old, uint64_t new, uint64_t step)
{
	for (; i < end && __atomic_load_n(&ents[i], __ATOMIC_RELAXED) == old;
	     i++, old += step, new += step) {
		uint64_t seen = old;

		if (new != old && !pt_leaf_replace(f, &ents[i], &seen, new))
			break;
	}
	return i;
}

int pt_protect_node(struct pt_cursor *c, uint64_t limit, pt_protect_fn op, void *arg)
{
	const struct pt_format *f = c->fmt;
	uint64_t stop = pt_node_stop(c, limit), *ents = pt_path_entries(c, 1);
	uint64_t i = pt_index(f, 1, c->va), end = i + ((stop - c->va) >> PAGE_SHIFT);
	uint64_t lin0 = c->va - (i << PAGE_SHIFT), step = f->leaf_pa_step;

	while (i < end) {
		uint64_t raw = __atomic_load_n(&ents[i], __ATOMIC_RELAXED), nraw, j = i + 1;
		paddr_t pa;
		int err;

		if (!raw) {
			i++;
			continue;
		}
		err = pt_protect_leaf(c, raw, op, arg, &nraw, &pa);
		if (err) {
			pt_cursor_seek(c, lin0 + (i << PAGE_SHIFT));
			return err;
		}
		if (nraw != raw && !pt_leaf_replace(f, &ents[i], &raw, nraw))
			continue;   /* hardware set accessed/dirty: this leaf again, from then */
		if (pt_has_step(f)) /* the run may only go on while pa stays valid */
			j = pt_rewrite_run(f, ents, j, MIN(end, i + pt_pages_from(f, pa)),
					   raw + step, nraw + step, step);
		if (nraw != raw)
			pt_batch_add_range(c->batch, f, lin0 + (i << PAGE_SHIFT),
					   (j - i) << PAGE_SHIFT);
		i = j;
	}
	pt_cursor_seek(c, stop);
	return 0;
}
