/*
 * Page-table engine, part 3: node allocation, tables and flush batches (deferred
 * freeing). A batch is private to the CPU that uses it; the flush hook it calls belongs
 * to the TLB flusher (kernel/mm/tlb.c), which this file does not know.
 */
#include <keel/errno.h>
#include <keel/spinlock.h>

#include "epoch.h"
#include "pt_internal.h"

static struct frame *pt_node_init(struct frame *n, unsigned level)
{
	if (!n)
		return NULL;
	spin_init(&n->lock);
	n->flags = 0;
	n->priv = level;
	list_init(&n->link);
	return n;
}

struct frame *pt_node_alloc(unsigned level)
{
	return pt_node_init(frame_alloc(0, FRAME_PT_NODE), level);
}

struct frame *pt_node_alloc_raw(unsigned level)
{
	return pt_node_init(frame_alloc_raw(0, FRAME_PT_NODE), level);
}

void pt_node_free_unpublished(struct frame *n)
{
	frame_free(n, 0);
}

static void pt_frame_leaf_get(void *ctx, paddr_t pa, unsigned level)
{
	(void)ctx;
	(void)level;
	frame_get(frame_head(frame_of(pa)));
}

static void pt_frame_leaf_put(void *ctx, paddr_t pa, unsigned level)
{
	struct frame *f = frame_head(frame_of(pa));

	(void)ctx;
	(void)level;
	if (frame_put(f))
		frame_free(f, f->order);
}

const struct pt_leaf_ops pt_leaf_ops_frame = {
	.get = pt_frame_leaf_get,
	.put = pt_frame_leaf_put,
	.ctx = NULL,
};

void pt_flush_batch_init(struct pt_flush_batch *b, const struct pt_flush_ops *ops, void *ctx)
{
	b->ops = ops;
	b->ctx = ctx;
	b->range_count = 0;
	b->flush_all = false;
	b->run_count = 0;
	list_init(&b->chunks);
	b->last = NULL;
	b->leaf_count = 0;
	list_init(&b->nodes);
	b->node_count = 0;
	b->flush_count = 0;
	b->early_flush_count = 0;
	b->leaf_put_count = 0;
	b->node_free_count = 0;
}

bool pt_flush_batch_is_empty(const struct pt_flush_batch *b)
{
	return !b->range_count && !b->flush_all && !b->leaf_count && !b->node_count;
}

void pt_batch_add_range(struct pt_flush_batch *b, const struct pt_format *f, uint64_t lo,
			uint64_t len)
{
	struct pt_flush_range *last = b->range_count ? &b->range[b->range_count - 1] : NULL;
	vaddr_t va = pt_lin_to_va(f, lo);

	if (b->flush_all)
		return;
	if (last && last->start.v + last->len == va.v) {
		last->len += len;
		return;
	}
	if (b->range_count == PT_FLUSH_RANGE_MAX) {
		b->flush_all = true;
		return;
	}
	b->range[b->range_count++] = (struct pt_flush_range){ .start = va, .len = len };
}

static void pt_put_run(struct pt_flush_batch *b, const struct pt_deferred_run *r)
{
	for (uint64_t i = 0; i < r->count; i++)
		r->ops->put(r->ops->ctx, PA(r->pa.v + (i << r->shift)), r->level);
	b->leaf_put_count += r->count;
}

/*
 * Runs the flush hook for what is recorded, then drops every deferred leaf reference
 * and frees the chunk frames that held them.
 */
static void pt_batch_flush_leaves(struct pt_flush_batch *b)
{
	struct list_node *it, *tmp;

	if ((b->range_count || b->flush_all) && b->ops && b->ops->flush) {
		b->ops->flush(b);
		b->flush_count++;
	}
	b->range_count = 0;
	b->flush_all = false;
	for (unsigned i = 0; i < b->run_count; i++)
		pt_put_run(b, &b->run[i]);
	list_for_each_safe (it, tmp, &b->chunks) {
		struct frame *ch = list_entry(it, struct frame, link);
		const struct pt_deferred_run *r = frame_kva(ch);

		for (uint64_t i = 0; i < ch->priv; i++)
			pt_put_run(b, &r[i]);
		list_remove(it);
		frame_free(ch, 0);
	}
	b->run_count = 0;
	b->last = NULL;
	b->leaf_count = 0;
}

/*
 * A free run slot: inline, in the last chunk, or in a new chunk. If no frame can be
 * had, flushes early (every reference waiting is then covered by a flush) and reuses
 * the inline slots.
 */
static struct pt_deferred_run *pt_batch_slot(struct pt_flush_batch *b)
{
	struct frame *ch;

	if (b->run_count < PT_BATCH_INLINE_RUNS)
		return &b->run[b->run_count++];
	if (!list_is_empty(&b->chunks)) {
		ch = list_entry(b->chunks.prev, struct frame, link);
		if (ch->priv < PT_FLUSH_CHUNK_RUNS)
			return (struct pt_deferred_run *)frame_kva(ch) + ch->priv++;
	}
	ch = frame_alloc(0, FRAME_KERNEL);
	if (ch) {
		ch->priv = 1;
		list_push_back(&b->chunks, &ch->link);
		return frame_kva(ch);
	}
	pt_batch_flush_leaves(b);
	b->early_flush_count++;
	b->run_count = 1;
	return &b->run[0];
}

void pt_batch_defer_run(struct pt_flush_batch *b, const struct pt_leaf_ops *ops, paddr_t pa,
			uint64_t count, unsigned level, unsigned shift)
{
	struct pt_deferred_run *r = b->last;

	if (!ops || !count)
		return;
	if (r && r->ops == ops && r->level == level &&
	    r->pa.v + ((uint64_t)r->count << shift) == pa.v && count <= UINT32_MAX - r->count) {
		r->count += (uint32_t)count;
		b->leaf_count += count;
		return;
	}
	while (count) {
		uint32_t n = (uint32_t)MIN(count, UINT32_MAX);

		r = pt_batch_slot(b);
		*r = (struct pt_deferred_run){ .pa = pa,
					       .ops = ops,
					       .count = n,
					       .level = (uint8_t)level,
					       .shift = (uint8_t)shift };
		b->leaf_count += n;
		pa = PA(pa.v + ((uint64_t)n << shift));
		count -= n;
	}
	b->last = r;
}

void pt_batch_defer_node(struct pt_flush_batch *b, struct frame *n)
{
	list_push_back(&b->nodes, &n->link);
	b->node_count++;
}

void pt_flush_batch_finish(struct pt_flush_batch *b)
{
	struct list_node *it, *tmp;

	pt_batch_flush_leaves(b);
	if (!b->node_count)
		return;
	epoch_synchronize();
	list_for_each_safe (it, tmp, &b->nodes) {
		list_remove(it);
		frame_free(list_entry(it, struct frame, link), 0);
		b->node_free_count++;
	}
	b->node_count = 0;
}

int pt_table_init(struct pt_table *t, const struct pt_format *fmt,
		  const struct pt_leaf_ops *leaf_ops)
{
	CHECK(fmt->levels >= 1 && fmt->levels <= PT_MAX_LEVELS && pt_format_has_leaf(fmt, 1));
	t->fmt = fmt;
	t->leaf_ops = leaf_ops;
	t->keep_root_entries = false;
	t->root = pt_node_alloc(fmt->levels);
	return t->root ? 0 : -ENOMEM;
}

void pt_table_fini(struct pt_table *t, struct pt_flush_batch *b)
{
	const struct pt_format *f = t->fmt;
	struct pt_dfs it;
	enum pt_dfs_event ev;

	/* Only the usable root entries belong to this table: a host user table's root
	 * also holds the shared kernel half, which must not be walked or freed. */
	uint64_t entry_span = pt_span(f, f->levels - 1);

	b->flush_all = true; /* before any leaf is deferred: an early flush must cover it */
	pt_dfs_init(&it, f, t->root, f->levels, 0, f->top_first * entry_span,
		    (f->top_last + 1ull) * entry_span);
	it.tables_only = true; /* level-1 nodes are scanned raw, on their EXIT */
	while ((ev = pt_dfs_next(&it)) != PT_DFS_DONE) {
		if (ev == PT_DFS_LEAF) {
			pt_batch_defer_run(b, t->leaf_ops, it.entry.pa, 1, it.level,
					   f->shift[it.level]);
		} else if (ev == PT_DFS_EXIT) {
			if (it.level == 1)
				(void)pt_node_defer_leaves(t, b, it.node, false);
			pt_batch_defer_node(b, it.node);
		}
	}
	b->flush_all = true;
	t->root = NULL;
}

paddr_t pt_table_root_pa(const struct pt_table *t)
{
	return frame_pa(t->root);
}
