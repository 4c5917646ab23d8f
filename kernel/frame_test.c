/*
 * Kernel tests of the frame allocator on the real memory map (kernel/frame.c).
 * Each test restores what it took, so they can run in any order; while one runs it
 * may hold every free frame, so nothing else should allocate meanwhile.
 * A failure found while holding frames is recorded first and reported after the
 * frames are back, so one failing test does not starve the next.
 */
#include <keel/boot.h>
#include <keel/frame.h>
#include <keel/ktest.h>
#include <keel/smp.h>
#include <keel/string.h>

#define FT_MAGIC 0x6b65656c6672616dull /* "keelfram" */
#define FT_LIVE_MAX 256

static uint64_t ft_rng;

static uint64_t ft_rand(void)
{
	ft_rng ^= ft_rng << 13;
	ft_rng ^= ft_rng >> 7;
	ft_rng ^= ft_rng << 17;
	return ft_rng;
}

static void ft_snapshot(uint64_t *counts)
{
	for (unsigned k = 0; k <= FRAME_ORDER_MAX; k++)
		counts[k] = frame_order_free_count(k);
}

/* Returns the first order whose free block count differs from counts, or -1. */
static int ft_order_mismatch(const uint64_t *counts)
{
	for (unsigned k = 0; k <= FRAME_ORDER_MAX; k++)
		if (frame_order_free_count(k) != counts[k])
			return (int)k;
	return -1;
}

static bool ft_overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < b1 && b0 < a1;
}

/* True if [pa, pa + len) is memory the allocator must never hand out. */
static bool ft_is_forbidden(uint64_t pa, uint64_t len)
{
	const struct boot_info *bi = &boot_info;

	if (pa < MiB(1) || pa + len > bi->direct_map_end)
		return true;
	if (ft_overlaps(pa, pa + len, bi->kernel_start.v, bi->kernel_end.v))
		return true;
	for (unsigned i = 0; i < bi->mod_count; i++)
		if (ft_overlaps(pa, pa + len, bi->mods[i].start.v, bi->mods[i].end.v))
			return true;
	for (unsigned i = 0; i < bi->mem_count; i++) {
		const struct boot_mem_region *m = &bi->mem[i];

		if (m->type != BOOT_MEM_USABLE &&
		    ft_overlaps(pa, pa + len, m->base, m->base + m->len))
			return true;
	}
	return false;
}

/* Checks one word in every `stride` (1: every word); Bochs pays for each read. */
static bool ft_is_zero(const struct frame *f, uint64_t frames, unsigned stride)
{
	const uint64_t *w = frame_kva(f);
	uint64_t words = frames * (PAGE_SIZE / 8);

	for (uint64_t i = 0; i < words; i += stride)
		if (w[i])
			return false;
	return w[words - 1] == 0;
}

/* Stamps every frame of a block with its owner's sequence number. */
static void ft_stamp(struct frame *f, unsigned order, uint64_t seq)
{
	for (uint64_t i = 0; i < (1ull << order); i++) {
		uint64_t *w = frame_kva(f + i);

		w[0] = FT_MAGIC ^ seq;
		w[PAGE_SIZE / 8 - 1] = seq + i;
	}
}

static bool ft_stamp_ok(const struct frame *f, unsigned order, uint64_t seq)
{
	for (uint64_t i = 0; i < (1ull << order); i++) {
		const uint64_t *w = frame_kva(f + i);

		if (w[0] != (FT_MAGIC ^ seq) || w[PAGE_SIZE / 8 - 1] != seq + i)
			return false;
	}
	return true;
}

/*
 * Order-0 allocation until NULL hands out exactly the free count, each frame zeroed,
 * outside the kernel image, modules, reserved map entries and the first MiB, and no
 * frame twice (each keeps its own stamp). Freeing all restores the count.
 */
KTEST(frame_exhaust_and_free_all_memory)
{
	uint64_t start = frame_free_count(), count = 0, bad_pa = 0;
	struct list_node held, *it, *tmp;
	const char *bad = NULL;
	struct frame *f;

	list_init(&held);
	while ((f = frame_alloc(0, FRAME_KERNEL)) != NULL) {
		uint64_t pa = frame_pa(f).v;

		if (!bad && ft_is_forbidden(pa, PAGE_SIZE))
			bad = "frame in forbidden memory", bad_pa = pa;
		if (!bad && (f->refcount != 1 || f->pin_count != 0 || f->type != FRAME_KERNEL))
			bad = "fresh frame metadata", bad_pa = pa;
		if (!bad && !ft_is_zero(f, 1, 8))
			bad = "fresh frame not zeroed", bad_pa = pa;
		ft_stamp(f, 0, count++);
		list_push_back(&held, &f->link);
	}
	uint64_t at_empty = frame_free_count(), seq = 0;
	list_for_each (it, &held) {
		f = list_entry(it, struct frame, link);
		if (!bad && !ft_stamp_ok(f, 0, seq))
			bad = "frame handed out twice (stamp overwritten)", bad_pa = frame_pa(f).v;
		seq++;
	}
	list_for_each_safe (it, tmp, &held) {
		f = list_entry(it, struct frame, link);
		list_remove(it);
		frame_free(f, 0);
	}
	if (bad) {
		ktest_fail(t, __FILE__, __LINE__, "%s at pa 0x%llx", bad,
			   (unsigned long long)bad_pa);
		return;
	}
	KT_ASSERT(start > 0);
	KT_ASSERT_EQ(count, start);
	KT_ASSERT_EQ(at_empty, 0);
	KT_ASSERT_EQ(frame_free_count(), start);
}

/*
 * Exhausting memory with blocks of falling orders and freeing them in a random order
 * gives back exactly the free block count of every order from before.
 */
KTEST(frame_coalesces_to_initial_state)
{
	uint64_t before[FRAME_ORDER_MAX + 1];
	struct list_node held[FRAME_ORDER_MAX + 1], *it;
	uint64_t held_count = 0, start = frame_free_count();
	int mismatch;

	ft_snapshot(before);
	for (unsigned k = 0; k <= FRAME_ORDER_MAX; k++)
		list_init(&held[k]);
	for (int k = 10; k >= 0; k--) {
		struct frame *f;

		while ((f = frame_alloc((unsigned)k, FRAME_USER)) != NULL) {
			list_push_back(&held[k], &f->link);
			held_count++;
		}
	}
	uint64_t at_empty = frame_free_count();
	/* Free in a pseudo-random order: pick a random list, rotate, free its head. */
	ft_rng = 0x1234567;
	while (held_count) {
		unsigned k = (unsigned)(ft_rand() % 11);

		if (list_is_empty(&held[k]))
			continue;
		for (unsigned skip = (unsigned)(ft_rand() % 8); skip; skip--) {
			it = held[k].next;
			list_remove(it);
			list_push_back(&held[k], it);
		}
		it = held[k].next;
		list_remove(it);
		frame_free(list_entry(it, struct frame, link), k);
		held_count--;
	}
	mismatch = ft_order_mismatch(before);
	KT_ASSERT_EQ(at_empty, 0);
	KT_ASSERT_EQ(frame_free_count(), start);
	KT_ASSERT_EQ(mismatch, -1);
}

struct ft_block {
	struct frame *f;
	unsigned order;
	uint64_t seq;
};

static struct ft_block ft_live[FT_LIVE_MAX];

/* Checks a fresh block against the live set; returns a reason or NULL. */
static const char *ft_check_fresh(struct frame *f, unsigned order, unsigned live)
{
	uint64_t pa = frame_pa(f).v, len = PAGE_SIZE << order;

	if (!IS_ALIGNED(pa, len))
		return "block not naturally aligned";
	if (ft_is_forbidden(pa, len))
		return "block in forbidden memory";
	if (f->order != order || f->refcount != 1 || f->pin_count != 0 ||
	    f->type != FRAME_GUEST_RAM)
		return "fresh block metadata";
	for (uint64_t i = 1; i < (1ull << order); i++)
		if (f[i].type != FRAME_GUEST_RAM || frame_of(PA(pa + i * PAGE_SIZE)) != f + i)
			return "tail frame metadata";
	if (!ft_is_zero(f, 1ull << order, order <= 2 ? 1 : 64))
		return "fresh block not zeroed";
	for (unsigned i = 0; i < live; i++) {
		uint64_t b = frame_pa(ft_live[i].f).v;

		if (ft_overlaps(pa, pa + len, b, b + (PAGE_SIZE << ft_live[i].order)))
			return "block overlaps a live block";
	}
	return NULL;
}

/* Random alloc/free of orders 0..9: aligned, disjoint, intact, and all coalesces back. */
KTEST(frame_mixed_orders_random)
{
	uint64_t before[FRAME_ORDER_MAX + 1], start = frame_free_count(), seq = 0;
	unsigned live = 0;
	const char *bad = NULL;

	ft_snapshot(before);
	ft_rng = 0x9e3779b97f4a7c15ull;
	for (int op = 0; op < 4000 && !bad; op++) {
		uint64_t r = ft_rand();

		if (live < FT_LIVE_MAX && (live == 0 || r % 3 != 0)) {
			unsigned order = (r >> 8) % 16 == 0 ? (unsigned)((r >> 16) % 10)
							    : (unsigned)((r >> 16) % 3);
			struct frame *f = frame_alloc(order, FRAME_GUEST_RAM);

			if (!f)
				continue;
			bad = ft_check_fresh(f, order, live);
			ft_stamp(f, order, ++seq);
			ft_live[live++] = (struct ft_block){ f, order, seq };
		} else {
			unsigned i = (unsigned)((r >> 8) % live);

			if (!ft_stamp_ok(ft_live[i].f, ft_live[i].order, ft_live[i].seq))
				bad = "live block was overwritten";
			frame_free(ft_live[i].f, ft_live[i].order);
			ft_live[i] = ft_live[--live];
		}
	}
	while (live) {
		live--;
		frame_free(ft_live[live].f, ft_live[live].order);
	}
	if (bad) {
		ktest_fail(t, __FILE__, __LINE__, "%s", bad);
		return;
	}
	KT_ASSERT_EQ(frame_free_count(), start);
	KT_ASSERT_EQ(ft_order_mismatch(before), -1);
}

/* frame_of/frame_pa round-trip, references, and metadata reset on reuse. */
KTEST(frame_metadata_round_trip)
{
	struct frame *f = frame_alloc(2, FRAME_PT_NODE), *g;
	paddr_t pa;

	KT_ASSERT(f != NULL);
	pa = frame_pa(f);
	KT_ASSERT(frame_of(pa) == f);
	KT_ASSERT(frame_of(PA(pa.v + 3 * PAGE_SIZE + 123)) == f + 3);
	KT_ASSERT(arch_kva_to_pa(frame_kva(f)).v == pa.v);
	KT_ASSERT_EQ(f->type, FRAME_PT_NODE);
	KT_ASSERT_EQ(f->order, 2);
	frame_get(f);
	KT_ASSERT_EQ(f->refcount, 2);
	KT_ASSERT(!frame_put(f));
	f->flags = 0xbeef;
	f->priv = 0x1234;
	memset(frame_kva(f), 0x5a, 4 * PAGE_SIZE);
	KT_ASSERT(frame_put(f));
	frame_free(f, 2);
	g = frame_alloc(2, FRAME_KERNEL);
	KT_ASSERT(g != NULL);
	KT_ASSERT(g->flags == 0 && g->priv == 0 && g->refcount == 1);
	KT_ASSERT(g->type == FRAME_KERNEL && g[3].type == FRAME_KERNEL);
	bool zero = ft_is_zero(g, 4, 1);
	frame_free(g, 2);
	KT_ASSERT(zero);
}

/* ---- all CPUs at once ---- */

#define FT_CPU_LIVE 32
#define FT_CPU_OPS 1500

struct ft_cpu_result {
	const char *bad; /* first problem this CPU saw, or NULL */
	uint64_t allocs;
};

static struct ft_cpu_result ft_cpu_results[MAX_CPUS];

/* Runs on every CPU at once (interrupts off): alloc/stamp/verify/free orders 0..3. */
static void ft_cpu_churn(void *arg)
{
	struct ft_cpu_result *res = &ft_cpu_results[this_cpu_id()];
	struct ft_block mine[FT_CPU_LIVE];
	uint64_t rng = 0x2545f4914f6cdd1dull * (this_cpu_id() + 1), tag;
	unsigned live = 0;

	(void)arg;
	tag = (uint64_t)this_cpu_id() << 48;
	for (int op = 0; op < FT_CPU_OPS; op++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		if (live < FT_CPU_LIVE && (live == 0 || rng % 3 != 0)) {
			unsigned order = (unsigned)((rng >> 8) % 4);
			struct frame *f = frame_alloc(order, FRAME_KERNEL);

			if (!f)
				continue;
			if (!res->bad && (f->refcount != 1 || f->order != order ||
					  !IS_ALIGNED(frame_pa(f).v, PAGE_SIZE << order)))
				res->bad = "fresh block metadata or alignment";
			if (!res->bad && !ft_is_zero(f, 1ull << order, 16))
				res->bad = "fresh block not zeroed";
			ft_stamp(f, order, tag | (uint64_t)op);
			mine[live++] = (struct ft_block){ f, order, tag | (uint64_t)op };
			res->allocs++;
		} else {
			unsigned i = (unsigned)((rng >> 8) % live);

			if (!res->bad && !ft_stamp_ok(mine[i].f, mine[i].order, mine[i].seq))
				res->bad = "block overwritten by another CPU";
			frame_free(mine[i].f, mine[i].order);
			mine[i] = mine[--live];
		}
	}
	while (live) {
		live--;
		frame_free(mine[live].f, mine[live].order);
	}
}

/* Every online CPU allocates and frees concurrently: no block is shared, none leaks. */
KTEST(frame_concurrent_churn_all_cpus)
{
	uint64_t start = frame_free_count(), allocs = 0;
	unsigned n;

	memset(ft_cpu_results, 0, sizeof(ft_cpu_results));
	n = smp_call(smp_online_mask(), ft_cpu_churn, NULL, true);
	KT_ASSERT_EQ(n, smp_cpu_online_count());
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		if (ft_cpu_results[c].bad) {
			ktest_fail(t, __FILE__, __LINE__, "cpu %u: %s", c, ft_cpu_results[c].bad);
			return;
		}
		allocs += ft_cpu_results[c].allocs;
	}
	KT_ASSERT(allocs >= n * (uint64_t)FT_CPU_OPS / 3);
	KT_ASSERT_EQ(frame_free_count(), start);
}
