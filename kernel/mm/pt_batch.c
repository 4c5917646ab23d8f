/*
 * Page-table engine, beside the walker: flush batches (deferred freeing) and the
 * default leaf references. A batch records what an edit made stale and holds the leaf
 * references and detached nodes until the flush that makes them unreachable; it is
 * private to the CPU that uses it. Calls no other engine file (it never walks a
 * table); the flush hook it calls belongs to the TLB flusher (kernel/mm/tlb.c), which
 * this file does not know.
 */

#include "epoch.h"
#include "pt_internal.h"

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
