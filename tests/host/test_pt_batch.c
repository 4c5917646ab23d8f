/*
 * Host tests of the flush batch (kernel/mm/pt_batch.c) through the cursor engine, per
 * format: one operation of any size makes exactly one flush dispatch (the batch grows
 * into frames from the allocator), and when the batch cannot grow the early flush still
 * comes before every reference it drops.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/errno.h>

#include "pt_test.h"

#define TF ((const struct pt_test_fmt *)arg)
#define PA_BASE 0x100000000000ull /* leaves map PA_BASE + page index * 4 KiB */
#define NPAGES_MAX 100000u

/*
 * The world of one test: pages [0, n) at lin0 + i * 4 KiB, mapped to page perm(i) of
 * PA_BASE. covered[i]: a flush handed to the hook covered page i. refs[j]: references
 * the table holds on pa page j. A put on a page not yet covered is a violation.
 */
static struct {
	uint64_t lin0, lin_mask;
	unsigned n;
	bool scattered; /* perm(i) = n - 1 - i, else i */
	bool covered[NPAGES_MAX];
	int refs[NPAGES_MAX];
	unsigned violations, flushes, puts;
} W;

static unsigned perm(unsigned i)
{
	return W.scattered ? W.n - 1 - i : i;
}

static void w_flush(struct pt_flush_batch *b)
{
	W.flushes++;
	if (b->flush_all) {
		memset(W.covered, 1, sizeof(W.covered));
		return;
	}
	for (unsigned r = 0; r < b->range_count; r++) {
		uint64_t lo = b->range[r].start.v & W.lin_mask;

		for (uint64_t off = 0; off < b->range[r].len; off += PAGE_SIZE) {
			uint64_t i = (lo + off - W.lin0) / PAGE_SIZE;

			if (lo + off >= W.lin0 && i < W.n)
				W.covered[i] = true;
		}
	}
}

static const struct pt_flush_ops w_flush_ops = { .flush = w_flush };

static unsigned w_page_of(paddr_t pa)
{
	uint64_t j = (pa.v - PA_BASE) / PAGE_SIZE;

	CHECK(pa.v >= PA_BASE && j < W.n);
	return (unsigned)j;
}

static void w_get(void *ctx, paddr_t pa, unsigned level)
{
	(void)ctx;
	CHECK(level == 1);
	W.refs[w_page_of(pa)]++;
}

static void w_put(void *ctx, paddr_t pa, unsigned level)
{
	unsigned j = w_page_of(pa);
	unsigned i = W.scattered ? W.n - 1 - j : j;

	(void)ctx;
	CHECK(level == 1);
	if (!W.covered[i] || W.refs[j] <= 0)
		W.violations++;
	W.refs[j]--;
	W.puts++;
}

static const struct pt_leaf_ops w_leaf_ops = { .get = w_get, .put = w_put };

/* Maps n 4 KiB pages from lin0 (one map call per page) with the checking ops. */
static void w_setup(struct pt_env *e, const struct pt_test_fmt *tf, unsigned n, bool scattered,
		    uint64_t lin0)
{
	struct pt_cursor c;

	memset(&W, 0, sizeof(W));
	W.lin0 = lin0;
	W.lin_mask = (1ull << tf->fmt->va_bits) - 1;
	W.n = n;
	W.scattered = scattered;
	env_init(e, tf, &w_leaf_ops);
	pt_flush_batch_init(&e->b, &w_flush_ops, NULL);
	CHECK(pt_cursor_begin(&c, &e->t, env_va(e, lin0), env_va(e, lin0 + n * PAGE_SIZE), &e->b) ==
	      0);
	for (unsigned i = 0; i < n; i++)
		CHECK(pt_cursor_map(&c, PA(PA_BASE + perm(i) * PAGE_SIZE), PAGE_SIZE, tf->rw) == 0);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&e->b);
	W.flushes = 0;
}

/* True if every reference came back, each after a flush that covered its page. */
static bool w_all_put(void)
{
	for (unsigned j = 0; j < W.n; j++) {
		if (W.refs[j] != 0)
			return false;
	}
	return W.violations == 0 && W.puts == W.n;
}

/* Unmaps the n pages with one cursor; returns the error. */
static int w_unmap(struct pt_env *e, long fail_after)
{
	struct pt_cursor c;
	uint64_t len = W.n * PAGE_SIZE;
	int err;

	CHECK(pt_cursor_begin(&c, &e->t, env_va(e, W.lin0), env_va(e, W.lin0 + len), &e->b) == 0);
	if (fail_after >= 0)
		fake_fail_after(fail_after);
	err = pt_cursor_unmap(&c, len);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&e->b);
	fake_fail_off();
	return err;
}

struct size_case {
	unsigned n;
	bool scattered;
	bool unaligned; /* start 5 pages into a level-1 node */
};

/* One unmap of n pages, whatever n and the pa layout: exactly one flush dispatch. */
static void t_unmap_one_dispatch(const void *arg)
{
	static const struct size_case cases[] = {
		{ 512, false, false },	 { 512, true, false },	 { 100000, false, false },
		{ 100000, true, false }, { 100000, true, true }, { 1000, true, true },
	};

	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		const struct size_case *sc = &cases[k];
		uint64_t lin0 = TF->space_lo + TF->huge + (sc->unaligned ? 5 * PAGE_SIZE : 0);
		uint64_t in_use;
		struct pt_env e;

		w_setup(&e, TF, sc->n, sc->scattered, lin0);
		in_use = fake_frames_in_use();
		T_EQ(w_unmap(&e, -1), 0);
		T_EQ(W.flushes, 1u);
		T_EQ(e.b.flush_count, 1u);
		T_EQ(e.b.early_flush_count, 0u);
		T_ASSERT(w_all_put());
		T_ASSERT(fake_frames_in_use() <= in_use); /* chunk frames came back */
		T_EQ(env_leaf_count(&e), 0);
		T_ASSERT(env_fini(&e));
	}
}

static void clear_w(struct pt_prop *p, void *a)
{
	(void)a;
	p->flags &= (uint16_t)~PT_PROP_W;
}

/* One protect of 100,000 pages: one dispatch, every page write-protected. */
static void t_protect_one_dispatch(const void *arg)
{
	struct pt_env e;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t lin0 = TF->space_lo + TF->huge + 3 * PAGE_SIZE, len = NPAGES_MAX * PAGE_SIZE;

	w_setup(&e, TF, NPAGES_MAX, true, lin0);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, lin0), env_va(&e, lin0 + len), &e.b), 0);
	T_EQ(pt_cursor_protect(&c, len, clear_w, NULL), 0);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&e.b);
	T_EQ(W.flushes, 1u);
	for (unsigned i = 0; i < NPAGES_MAX; i += 997) {
		T_EQ(env_query(&e, lin0 + i * PAGE_SIZE, &it), PT_ITEM_LEAF);
		T_ASSERT(!(it.prop.flags & PT_PROP_W));
		T_EQ(it.pa.v, PA_BASE + perm(i) * PAGE_SIZE);
	}
	T_EQ(w_unmap(&e, -1), 0);
	T_ASSERT(w_all_put());
	T_ASSERT(env_fini(&e));
}

/*
 * The batch cannot grow (frame_alloc fails from the k-th call): it flushes early, more
 * than once, and still drops no reference before a flush covered its page.
 */
static void t_early_flush_when_batch_cannot_grow(const void *arg)
{
	static const long fail_after[] = { 0, 1, 3 };

	for (size_t k = 0; k < ARRAY_SIZE(fail_after); k++) {
		uint64_t in_use;
		struct pt_env e;

		w_setup(&e, TF, 3000, true, TF->space_lo + TF->huge + 7 * PAGE_SIZE);
		in_use = fake_frames_in_use();
		T_EQ(w_unmap(&e, fail_after[k]), 0);
		T_ASSERT(W.flushes > 1);
		T_EQ(W.flushes, e.b.flush_count);
		T_ASSERT(e.b.early_flush_count >= 1);
		T_ASSERT(w_all_put());
		T_ASSERT(fake_frames_in_use() <= in_use);
		T_EQ(env_leaf_count(&e), 0);
		T_ASSERT(env_fini(&e));
	}
}

/* pt_table_fini with a batch that cannot grow: the early flushes are full flushes. */
static void t_fini_early_flush(const void *arg)
{
	struct pt_env e;

	w_setup(&e, TF, 3000, true, TF->space_lo + TF->huge);
	fake_fail_after(0);
	pt_table_fini(&e.t, &e.b);
	pt_flush_batch_finish(&e.b);
	fake_fail_off();
	T_ASSERT(e.b.early_flush_count >= 1);
	T_ASSERT(w_all_put());
	T_EQ(fake_pt_nodes_in_use(), e.nodes_before);
}

/*
 * Raw runs: leaves at the top of the pa space, then low pas, then the same pa with
 * other props, all next to each other. Query, protect and unmap must see each leaf's
 * own pa and props, and every reference must go back to its own pa.
 */
static void t_runs_keep_pa_and_props(const void *arg)
{
	const struct pt_format *f = TF->fmt;
	uint64_t top = (1ull << f->pa_bits) - 4 * PAGE_SIZE, lin0 = TF->space_lo + TF->huge;
	struct pt_prop other = TF->rw;
	struct {
		uint64_t pa;
		bool other;
	} pg[12];
	struct pt_env e;
	struct pt_cursor c;
	struct pt_item it;

	other.flags ^= PT_PROP_X;
	for (unsigned i = 0; i < 12; i++) {
		pg[i].pa = i < 4 ? top + i * PAGE_SIZE : i < 8 ? (i - 3) * PAGE_SIZE : top;
		pg[i].other = i >= 8 && (i & 1);
	}
	ref_reset();
	env_init(&e, TF, NULL);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, lin0), env_va(&e, lin0 + SIZE_2M), &e.b), 0);
	for (unsigned i = 0; i < 12; i++)
		T_EQ(pt_cursor_map(&c, PA(pg[i].pa), PAGE_SIZE, pg[i].other ? other : TF->rw), 0);
	T_EQ(pt_cursor_jump(&c, env_va(&e, lin0)), 0);
	T_EQ(pt_cursor_protect(&c, 12 * PAGE_SIZE, clear_w, NULL), 0);
	for (unsigned i = 0; i < 12; i++) {
		struct pt_prop want = pg[i].other ? other : TF->rw;

		clear_w(&want, NULL);
		T_EQ(pt_cursor_jump(&c, env_va(&e, lin0 + i * PAGE_SIZE)), 0);
		T_EQ(pt_cursor_query(&c, &it), 0);
		T_EQ(it.kind, PT_ITEM_LEAF);
		T_EQ(it.pa.v, pg[i].pa);
		T_ASSERT(pt_prop_equal(it.prop, want));
	}
	T_EQ(ref_count(PA(top)), 5); /* pages 0 and 8..11 */
	T_EQ(ref_count(PA(PAGE_SIZE)), 1);
	T_EQ(pt_cursor_jump(&c, env_va(&e, lin0)), 0);
	T_EQ(pt_cursor_unmap(&c, 12 * PAGE_SIZE), 0);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&e.b);
	T_EQ(ref_total(), 0);
	T_ASSERT(!ref_underflowed());
	T_ASSERT(env_fini(&e));
}

int main(void)
{
	fake_arch_init();
	tap_run_formats("unmap_one_dispatch", t_unmap_one_dispatch);
	tap_run_formats("protect_one_dispatch", t_protect_one_dispatch);
	tap_run_formats("early_flush_when_batch_cannot_grow", t_early_flush_when_batch_cannot_grow);
	tap_run_formats("fini_early_flush", t_fini_early_flush);
	tap_run_formats("runs_keep_pa_and_props", t_runs_keep_pa_and_props);
	return tap_finish();
}
