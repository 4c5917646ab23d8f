/*
 * Page-table engine, bottom layer: the life of a node before it is published. A node
 * is one frame of type FRAME_PT_NODE whose lock, level (frame.priv) and flags are set
 * here; edits that need several take them all first (a pool: all or none), then link
 * them in below the cursor's position. Freed here only if never published: a node
 * that was in a table goes through a flush batch (pt_batch.c).
 * Calls no other engine file; knows no format bits and no TLB instruction.
 */
#include <keel/errno.h>
#include <keel/spinlock.h>

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

static void pt_free_pool(struct list_node *pool)
{
	struct list_node *it, *tmp;

	list_for_each_safe (it, tmp, pool) {
		list_remove(it);
		pt_node_free_unpublished(list_entry(it, struct frame, link));
	}
}

int pt_fill_pool(struct list_node *pool, unsigned long count)
{
	list_init(pool);
	for (unsigned long i = 0; i < count; i++) {
		struct frame *n = pt_node_alloc(0);

		if (!n) {
			pt_free_pool(pool);
			return -ENOMEM;
		}
		list_push_back(pool, &n->link);
	}
	return 0;
}

struct frame *pt_pool_take(struct list_node *pool, unsigned level)
{
	struct frame *n;

	CHECK(!list_is_empty(pool));
	n = list_entry(pool->next, struct frame, link);
	list_remove(&n->link);
	n->priv = level;
	return n;
}

int pt_map_new_path(struct pt_cursor *c, unsigned L, uint64_t raw)
{
	const struct pt_format *f = c->fmt;
	unsigned top = c->level;
	struct list_node pool;
	uint64_t entry = raw;

	if (pt_fill_pool(&pool, top - L))
		return -ENOMEM;
	for (unsigned l = L; l < top; l++) {
		struct frame *n = pt_pool_take(&pool, l);

		pt_lock_if_ours(c, n, ALIGN_DOWN(c->va, pt_span(f, l)), pt_span(f, l));
		pt_entry_store(n, pt_index(f, l, c->va), entry);
		c->path[l] = n;
		entry = f->encode_table(frame_pa(n), l + 1);
	}
	pt_entry_store(c->path[top], pt_index(f, top, c->va), entry);
	c->level = L;
	return 0;
}
