/*
 * Concurrency tests of the page-table engine, with pthreads standing in for CPUs (each
 * thread gets its own arch_cpu_id). Built with ThreadSanitizer. No sleeps and no timing:
 * overlap is shown by both threads being inside their cursors at once, exclusion by a
 * counter that must never exceed one, and grace periods by a waiter observed spinning.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include <keel/errno.h>

#include "mm/epoch.h"
#include "pt_test.h"

#define TF_ARG(a) ((const struct pt_test_fmt *)(a))
#define SPIN_LIMIT 200000000ul /* a liveness bound, not a timing assumption */

struct shared {
	struct pt_table *t;
	const struct pt_test_fmt *tf;
	uint64_t base[4];    /* per-thread linear range start */
	int inside;	     /* [a] threads inside a cursor now */
	int max_inside;	     /* [a] */
	int start;	     /* [a] */
	int stop;	     /* [a] */
	unsigned long plain; /* only touched inside mutually-overlapping cursors */
	bool bad;	     /* [a] */
};

struct worker {
	struct shared *sh;
	unsigned cpu;
	pthread_t th;
};

static vaddr_t lin_va(const struct pt_test_fmt *tf, uint64_t lin)
{
	const struct pt_format *f = tf->fmt;

	if (f->sign_extend && (lin >> (f->va_bits - 1)) & 1)
		return VA(lin | ~((1ull << f->va_bits) - 1));
	return VA(lin);
}

static void wait_flag(int *flag)
{
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
		sched_yield();
}

/* Both workers enter cursors on disjoint subtrees and wait to see each other inside. */
static void *disjoint_worker(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint64_t lo = sh->base[w->cpu - 1];
	struct pt_flush_batch b;
	struct pt_cursor c;
	unsigned long spins = 0;

	fake_set_cpu(w->cpu);
	pt_flush_batch_init(&b, NULL, NULL);
	wait_flag(&sh->start);
	CHECK(pt_cursor_begin(&c, sh->t, lin_va(sh->tf, lo), lin_va(sh->tf, lo + SIZE_2M), &b) ==
	      0);
	__atomic_fetch_add(&sh->inside, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&sh->inside, __ATOMIC_ACQUIRE) < 2 && ++spins < SPIN_LIMIT)
		sched_yield();
	if (spins >= SPIN_LIMIT)
		__atomic_store_n(&sh->bad, true, __ATOMIC_RELAXED);
	CHECK(pt_cursor_map(&c, T_PA(0x1000), PAGE_SIZE, sh->tf->rw) == 0);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&b);
	return NULL;
}

static void run_workers(struct shared *sh, void *(*fn)(void *), unsigned n)
{
	struct worker w[4];

	for (unsigned i = 0; i < n; i++) {
		w[i] = (struct worker){ .sh = sh, .cpu = i + 1 };
		CHECK(pthread_create(&w[i].th, NULL, fn, &w[i]) == 0);
	}
	__atomic_store_n(&sh->start, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++)
		pthread_join(w[i].th, NULL);
}

/* Cursors on disjoint ranges (different root entries) are inside at the same time. */
static void t_disjoint_cursors_overlap(const void *arg)
{
	struct pt_env e;
	struct shared sh = { .tf = TF_ARG(arg) };
	uint64_t top = pt_format_level_size(sh.tf->fmt, sh.tf->fmt->levels);

	env_init(&e, sh.tf, NULL);
	sh.t = &e.t;
	sh.base[0] = sh.tf->space_lo;
	sh.base[1] = sh.tf->space_lo + top;
	run_workers(&sh, disjoint_worker, 2);
	T_ASSERT(!sh.bad);
	T_EQ(env_leaf_count(&e), 2);
	T_ASSERT(env_fini(&e));
}

/* Cursors that all contain one page: never two inside at once; a plain counter stays exact. */
static void *overlap_worker(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint64_t hot = sh->tf->space_lo + SIZE_2M, seed = w->cpu * 7919;
	struct pt_flush_batch b;

	fake_set_cpu(w->cpu);
	pt_flush_batch_init(&b, NULL, NULL);
	wait_flag(&sh->start);
	for (int i = 0; i < 300; i++) {
		struct pt_cursor c;
		uint64_t a, z;
		int n;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		a = ((seed >> 33) % 512) * PAGE_SIZE;
		z = ((seed >> 45) % 512 + 1) * PAGE_SIZE;
		CHECK(pt_cursor_begin(&c, sh->t, lin_va(sh->tf, hot - a), lin_va(sh->tf, hot + z),
				      &b) == 0);
		n = __atomic_add_fetch(&sh->inside, 1, __ATOMIC_ACQ_REL);
		if (n > 1)
			__atomic_store_n(&sh->bad, true, __ATOMIC_RELAXED);
		sh->plain++;
		CHECK(pt_cursor_jump(&c, lin_va(sh->tf, hot)) == 0);
		if (pt_cursor_map(&c, T_PA(0x2000), PAGE_SIZE, sh->tf->rw) == -EEXIST) {
			CHECK(pt_cursor_jump(&c, lin_va(sh->tf, hot)) == 0);
			CHECK(pt_cursor_unmap(&c, PAGE_SIZE) == 0);
		}
		__atomic_fetch_sub(&sh->inside, 1, __ATOMIC_ACQ_REL);
		pt_cursor_end(&c);
		pt_flush_batch_finish(&b);
	}
	return NULL;
}

static void t_overlapping_cursors_exclude(const void *arg)
{
	struct pt_env e;
	struct shared sh = { .tf = TF_ARG(arg) };

	env_init(&e, sh.tf, NULL);
	sh.t = &e.t;
	run_workers(&sh, overlap_worker, 3);
	T_ASSERT(!sh.bad);
	T_EQ(sh.plain, 900ul);
	T_ASSERT(env_fini(&e));
}

/*
 * A writer keeps creating and detaching the node under a 2 MiB region while readers
 * descend lock-free into it and query single pages: every answer must be absent or the
 * writer's mapping, never garbage from a freed (poisoned) node.
 */
static void *detach_writer(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint64_t R = sh->tf->space_lo + 2 * SIZE_2M;
	struct pt_flush_batch b;

	fake_set_cpu(w->cpu);
	pt_flush_batch_init(&b, NULL, NULL);
	wait_flag(&sh->start);
	for (int i = 0; i < 300; i++) {
		struct pt_cursor c;
		struct pt_item it;

		CHECK(pt_cursor_begin(&c, sh->t, lin_va(sh->tf, R), lin_va(sh->tf, R + SIZE_2M),
				      &b) == 0);
		int err = pt_cursor_map_range(&c, 8 * PAGE_SIZE, T_PA(0x100000), sh->tf->rw);

		if (err)
			panic("map_range: %d at iteration %d", err, i);
		CHECK(pt_cursor_jump(&c, lin_va(sh->tf, R)) == 0);
		CHECK(pt_cursor_take_next(&c, SIZE_2M, &it) == 0);
		if (it.kind != PT_ITEM_SUBTREE || it.leaf_count != 8)
			__atomic_store_n(&sh->bad, true, __ATOMIC_RELAXED);
		pt_cursor_end(&c);
		pt_flush_batch_finish(&b);
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *detach_reader(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint64_t R = sh->tf->space_lo + 2 * SIZE_2M;
	struct pt_flush_batch b;
	unsigned k = w->cpu;

	fake_set_cpu(w->cpu);
	pt_flush_batch_init(&b, NULL, NULL);
	wait_flag(&sh->start);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		uint64_t va = R + (k++ % 8) * PAGE_SIZE;
		struct pt_cursor c;
		struct pt_item it;

		CHECK(pt_cursor_begin(&c, sh->t, lin_va(sh->tf, va), lin_va(sh->tf, va + PAGE_SIZE),
				      &b) == 0);
		CHECK(pt_cursor_query(&c, &it) == 0);
		if (it.kind == PT_ITEM_LEAF && it.pa.v != T_PA(0x100000).v + (va - R))
			__atomic_store_n(&sh->bad, true, __ATOMIC_RELAXED);
		pt_cursor_end(&c);
		pt_flush_batch_finish(&b);
	}
	return NULL;
}

static void *detach_mixed(void *arg)
{
	struct worker *w = arg;

	return w->cpu == 1 ? detach_writer(arg) : detach_reader(arg);
}

static void t_unmap_races_lockfree_descent(const void *arg)
{
	struct pt_env e;
	struct shared sh = { .tf = TF_ARG(arg) };

	env_init(&e, sh.tf, NULL);
	sh.t = &e.t;
	run_workers(&sh, detach_mixed, 3);
	printf("# %s: %" PRIu64 " stray restarts so far\n", sh.tf->fmt->name,
	       pt_stat_stray_retries());
	T_ASSERT(!sh.bad);
	T_EQ(env_leaf_count(&e), 0);
	T_ASSERT(env_fini(&e));
}

/* ---- no node is freed while a lock-free walker may be inside it */
struct grace {
	struct pt_flush_batch *b;
	int reader_in, reader_go; /* [a] */
};

static void *grace_reader(void *arg)
{
	struct grace *g = arg;
	unsigned slot;

	fake_set_cpu(5);
	slot = epoch_read_lock(); /* as a lock-free descent does */
	__atomic_store_n(&g->reader_in, 1, __ATOMIC_RELEASE);
	wait_flag(&g->reader_go);
	epoch_read_unlock(slot);
	return NULL;
}

static void *grace_finisher(void *arg)
{
	struct grace *g = arg;

	fake_set_cpu(6);
	pt_flush_batch_finish(g->b);
	return NULL;
}

static void t_no_node_freed_before_grace(const void *arg)
{
	struct pt_env e;
	struct grace g = { 0 };
	struct pt_cursor c;
	pthread_t r, f;
	uint64_t lo = TF_ARG(arg)->space_lo, nodes, relax;

	env_init(&e, TF_ARG(arg), NULL);
	g.b = &e.b;
	T_EQ(env_map(&e, lo + PAGE_SIZE, PAGE_SIZE, T_PA(0x1000), e.tf->rw), 0);
	CHECK(pthread_create(&r, NULL, grace_reader, &g) == 0);
	wait_flag(&g.reader_in);
	T_EQ(pt_cursor_begin(&c, &e.t, lin_va(e.tf, lo), lin_va(e.tf, lo + SIZE_2M), &e.b), 0);
	T_EQ(pt_cursor_unmap(&c, SIZE_2M), 0); /* detaches the level-1 node */
	pt_cursor_end(&c);
	nodes = fake_pt_nodes_in_use();
	relax = fake_relax_count();
	CHECK(pthread_create(&f, NULL, grace_finisher, &g) == 0);
	while (fake_relax_count() == relax) /* the finisher is waiting for the reader */
		sched_yield();
	T_EQ(fake_pt_nodes_in_use(), nodes);
	__atomic_store_n(&g.reader_go, 1, __ATOMIC_RELEASE);
	pthread_join(f, NULL);
	pthread_join(r, NULL);
	T_ASSERT(fake_pt_nodes_in_use() < nodes);
	T_ASSERT(env_fini(&e));
}

int main(void)
{
	static const struct {
		const char *name;
		void (*fn)(const void *);
	} tests[] = {
		{ "disjoint_cursors_overlap", t_disjoint_cursors_overlap },
		{ "overlapping_cursors_exclude", t_overlapping_cursors_exclude },
		{ "unmap_races_lockfree_descent", t_unmap_races_lockfree_descent },
		{ "no_node_freed_before_grace", t_no_node_freed_before_grace },
	};
	fake_arch_init();
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++)
		tap_run_formats(tests[i].name, tests[i].fn);
	return tap_finish();
}
