/*
 * Accessed/dirty bits that "hardware" sets while the engine edits a table. A hardware
 * walker sets them with a locked read-modify-write on a present leaf at any moment, so
 * an edit that reads a leaf and later stores a value computed from it must not write
 * back the old bits (pt_format.hw_bits, pt_leaf_replace). Hardware is simulated by an
 * atomic OR of the format's hw_bits into a present leaf:
 *   - deterministically, from inside the engine's own callbacks (the protect op, the
 *     leaf get() of a split), which run between the engine's read and its store;
 *   - by a thread racing take_next, which must report every bit set before the leaf
 *     went away.
 */
#include <pthread.h>
#include <sched.h>

#include <keel/errno.h>

#include "pt_test.h"

#define TF ((const struct pt_test_fmt *)arg)

/* The raw entry mapping lin (the lowest non-table entry on its path), or NULL. */
static uint64_t *leaf_slot(struct pt_table *t, uint64_t lin)
{
	const struct pt_format *f = t->fmt;
	struct frame *n = t->root;

	for (unsigned l = f->levels; l >= 1; l--) {
		unsigned idx = (unsigned)((lin >> f->shift[l]) & ((1u << f->index_bits[l]) - 1));
		uint64_t *slot = (uint64_t *)frame_kva(n) + idx;
		struct pt_entry e;

		f->decode(__atomic_load_n(slot, __ATOMIC_ACQUIRE), l, &e);
		if (e.kind == PT_ENTRY_ABSENT)
			return NULL;
		if (e.kind == PT_ENTRY_LEAF)
			return slot;
		n = frame_of(e.pa);
	}
	return NULL;
}

/* What the hardware walker does on an access: set A and D if the leaf is present. */
static bool hw_touch(const struct pt_format *f, uint64_t *slot)
{
	uint64_t old = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	while (old) {
		if (__atomic_compare_exchange_n(slot, &old, old | f->hw_bits, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return true;
	}
	return false;
}

static const uint16_t AD = PT_PROP_ACCESSED | PT_PROP_DIRTY;

/* ---- protect: the op runs after the engine read the leaves, before it stores */

struct touch_op {
	struct pt_table *t;
	uint64_t lo, hi; /* pages to touch, once */
	bool done;
};

static void touch_then_clear_write(struct pt_prop *prop, void *arg)
{
	struct touch_op *op = arg;

	if (!op->done) {
		for (uint64_t lin = op->lo; lin < op->hi; lin += PAGE_SIZE)
			(void)hw_touch(op->t->fmt, leaf_slot(op->t, lin));
		op->done = true;
	}
	prop->flags &= (uint16_t)~PT_PROP_W;
}

static void check_ad(struct pt_env *e, uint64_t lo, uint64_t hi, uint64_t step, bool *ok)
{
	struct pt_item it;

	for (uint64_t lin = lo; lin < hi; lin += step) {
		if (env_query(e, lin, &it) != PT_ITEM_LEAF || (it.prop.flags & AD) != AD ||
		    (it.prop.flags & PT_PROP_W))
			*ok = false;
	}
}

/* A run of 4 KiB leaves (the raw per-node loop) and a huge leaf (protect_next). */
static void t_protect_keeps_hw_bits(const void *arg)
{
	struct pt_env e;
	struct pt_cursor c;
	struct touch_op op;
	uint64_t A = TF->space_lo + TF->huge, H = A + TF->huge, n = 8 * PAGE_SIZE;
	bool ok = true;

	env_init(&e, TF, NULL);
	T_EQ(env_map_range(&e, A, n, T_PA(PAGE_SIZE), TF->rw), 0); /* pa not huge-aligned: 4K */
	T_EQ(env_map(&e, H, TF->huge, T_PA(0), TF->rw), 0);
	for (int pass = 0; pass < 2; pass++) {
		uint64_t lo = pass ? H : A, len = pass ? TF->huge : n;

		op = (struct touch_op){ .t = &e.t, .lo = lo, .hi = pass ? lo + PAGE_SIZE : lo + n };
		T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, lo), env_va(&e, lo + len), &e.b), 0);
		T_EQ(pt_cursor_protect(&c, len, touch_then_clear_write, &op), 0);
		pt_cursor_end(&c);
		pt_flush_batch_finish(&e.b);
		T_ASSERT(op.done);
		check_ad(&e, lo, lo + len, pass ? TF->huge : PAGE_SIZE, &ok);
		T_ASSERT(ok);
	}
	T_ASSERT(env_fini(&e));
}

/* ---- split: leaf get() runs while the subtree is built, before it replaces the leaf */

struct touch_ops {
	struct pt_leaf_ops ops;
	uint64_t *slot; /* the huge leaf */
	const struct pt_format *fmt;
	bool done;
};

static void touch_on_get(void *ctx, paddr_t pa, unsigned level)
{
	struct touch_ops *t = ctx;

	(void)pa;
	(void)level;
	if (t->slot && !t->done)
		t->done = hw_touch(t->fmt, t->slot);
}

static void no_put(void *ctx, paddr_t pa, unsigned level)
{
	(void)ctx;
	(void)pa;
	(void)level;
}

static void t_split_keeps_hw_bits(const void *arg)
{
	struct touch_ops t = { .ops = { .get = touch_on_get, .put = no_put }, .fmt = TF->fmt };
	struct pt_env e;
	uint64_t H = TF->space_lo + TF->huge;
	bool ok = true;

	t.ops.ctx = &t;
	env_init(&e, TF, &t.ops);
	T_EQ(env_map(&e, H, TF->huge, T_PA(0), TF->rw), 0);
	t.slot = leaf_slot(&e.t, H);
	T_ASSERT(t.slot);
	T_EQ(env_unmap(&e, H + PAGE_SIZE, PAGE_SIZE), 0); /* splits */
	T_ASSERT(t.done);
	/* every small leaf left inherits the bits set on the huge leaf during the split */
	for (uint64_t lin = H; lin < H + TF->huge; lin += TF->huge / 64) {
		struct pt_item it;

		if (lin == H + PAGE_SIZE)
			continue;
		if (env_query(&e, lin, &it) != PT_ITEM_LEAF || it.size == TF->huge ||
		    (it.prop.flags & AD) != AD)
			ok = false;
	}
	T_ASSERT(ok);
	T_ASSERT(env_fini(&e));
}

/* ---- take_next against a racing walker */

#define RACE_PAGES 200 /* not a whole level-1 node of any format: leaves, not a subtree */
#define RACE_ROUNDS 200

struct race {
	struct pt_table *t;
	uint64_t lo;
	int stop;		    /* [a] */
	uint8_t hit[RACE_PAGES];    /* [a] walker: set A/D on the page while it was mapped */
	uint64_t *slot[RACE_PAGES]; /* the leaves, found before the race */
};

/*
 * Touches the lowest page still mapped, once, then the next: take_next removes pages
 * in order, so the touches land around the moment the cursor reads and removes it.
 */
static void *race_walker(void *arg)
{
	struct race *r = arg;
	unsigned i = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) && i < RACE_PAGES) {
		if (!__atomic_load_n(r->slot[i], __ATOMIC_ACQUIRE)) {
			i++; /* already removed */
			continue;
		}
		if (hw_touch(r->t->fmt, r->slot[i])) {
			__atomic_store_n(&r->hit[i], 1, __ATOMIC_RELEASE);
			i++;
		}
	}
	return NULL;
}

static void t_take_next_reports_hw_bits(const void *arg)
{
	struct pt_env e;
	struct race r;
	uint64_t lo = TF->space_lo + TF->huge, len = RACE_PAGES * PAGE_SIZE, lost = 0;
	bool bad = false;

	env_init(&e, TF, NULL);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		uint8_t reported[RACE_PAGES] = { 0 };
		struct pt_cursor c;
		struct pt_item it;
		pthread_t th;

		r = (struct race){ .t = &e.t, .lo = lo };
		T_EQ(env_map_range(&e, lo, len, T_PA(PAGE_SIZE), TF->rw), 0);
		for (unsigned i = 0; i < RACE_PAGES; i++)
			r.slot[i] = leaf_slot(&e.t, lo + i * PAGE_SIZE);
		T_EQ(pthread_create(&th, NULL, race_walker, &r), 0);
		T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, lo), env_va(&e, lo + len), &e.b), 0);
		while (pt_cursor_take_next(&c, len, &it) == 0) {
			unsigned i = (unsigned)(((it.va.v - env_va(&e, lo).v)) / PAGE_SIZE);

			if (it.kind != PT_ITEM_LEAF || i >= RACE_PAGES) {
				bad = true;
				continue;
			}
			reported[i] = (it.prop.flags & AD) == AD;
		}
		__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
		pt_cursor_end(&c);
		pt_flush_batch_finish(&e.b);
		for (unsigned i = 0; i < RACE_PAGES; i++)
			lost += r.hit[i] && !reported[i];
	}
	T_ASSERT(!bad);
	T_EQ(lost, 0u);
	T_ASSERT(env_fini(&e));
}

int main(void)
{
	fake_arch_init();
	tap_run_formats("protect_keeps_hw_bits", t_protect_keeps_hw_bits);
	tap_run_formats("split_keeps_hw_bits", t_split_keeps_hw_bits);
	tap_run_formats("take_next_reports_hw_bits", t_take_next_reports_hw_bits);
	return tap_finish();
}
