/*
 * Page-table engine, top layer: the life of a whole table. Creates its root and, at
 * the end, hands every leaf reference and node of it to a flush batch. Uses the
 * walker, the node allocator, the batch and the runs (a level-1 node's leaves); no
 * cursor (nobody else may use the table by then). Knows no format bits and no TLB
 * instruction.
 */
#include <keel/errno.h>

#include "pt_internal.h"

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
