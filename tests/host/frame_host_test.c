/*
 * Host unit test of the buddy frame allocator: compiles kernel/frame.c unchanged
 * (-DKEEL_HOST) against the fake physical arena of frame_fake.c. Every test checks
 * the allocator against an independent, deliberately naive model: a per-page bitmap
 * of "may be handed out" built straight from the fake memory map, and a per-page
 * owner table of live blocks. Prints TAP. Arguments: -v (show printk), NAME (run only
 * tests whose name contains NAME).
 * Build (from the top of the repository; also with -fsanitize=thread for "concurrent"):
 *   gcc -std=gnu11 -Wall -Wextra -Werror -g -DKEEL_HOST -DKEEL_DEBUG -Iinclude -O1
 *       -fsanitize=address,undefined -fno-sanitize-recover=all -o frame_host_test
 *       tests/host/frame_host_test.c tests/host/frame_fake.c kernel/frame.c -lpthread
 */
#include "frame_fake.h"

#include <keel/boot.h>
#include <keel/frame.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARENA_SIZE (GiB(2) + MiB(64))	  /* fake physical [1 MiB, 2 GiB + 65 MiB) */
#define MODEL_PFNS (GiB(3) >> PAGE_SHIFT) /* the naive model covers [0, 3 GiB) */
#define PATTERN 0x5a17c0de00000000ull

static struct boot_info bi;
static uint8_t allowed[MODEL_PFNS];	/* naive model: 1 if the page may be handed out */
static uint32_t page_owner[MODEL_PFNS]; /* live block id + 1 owning each page, 0 if none */
static uint64_t allowed_count, allowed_lo, allowed_hi;
static uint64_t initial_blocks[FRAME_ORDER_MAX + 1];

/* ---- fake memory maps ---- */

static void map_reset(uint64_t direct_map_end)
{
	memset(&bi, 0, sizeof(bi));
	bi.direct_map_end = direct_map_end;
}

static void map_add(uint64_t base, uint64_t len, uint32_t type)
{
	bi.mem[bi.mem_count++] = (struct boot_mem_region){ base, len, type };
}

static void map_module(uint64_t start, uint64_t end)
{
	bi.mods[bi.mod_count].start = PA(start);
	bi.mods[bi.mod_count].end = PA(end);
	bi.mod_count++;
}

/* Typical PC layout (like QEMU's), kernel at 1 MiB, two unaligned modules. */
static void map_typical(void)
{
	map_reset(MiB(65));
	map_add(0, 0x9fc00, BOOT_MEM_USABLE);
	map_add(0x9fc00, 0x400, BOOT_MEM_RESERVED);
	map_add(0xf0000, 0x10000, BOOT_MEM_RESERVED);
	map_add(MiB(1), MiB(59), BOOT_MEM_USABLE);
	map_add(MiB(60), MiB(1), BOOT_MEM_ACPI);
	map_add(MiB(61), MiB(19), BOOT_MEM_USABLE); /* crosses the direct map end */
	bi.kernel_start = PA(MiB(1));
	bi.kernel_end = PA(MiB(1) + KiB(1536));
	map_module(MiB(4) + 0x800, MiB(4) + 0x3801);
	map_module(MiB(10), MiB(10) + KiB(4));
}

/* Unsorted, overlapping, unaligned entries; reserved inside usable; unknown types. */
static void map_messy(void)
{
	map_reset(MiB(60));
	map_add(MiB(50), MiB(14) + 0x123, BOOT_MEM_USABLE); /* crosses the direct map end */
	map_add(MiB(8), MiB(12), BOOT_MEM_USABLE);
	map_add(MiB(12) + 0x10, 0x10, BOOT_MEM_RESERVED);	  /* kills one page */
	map_add(MiB(1) - 0x123, MiB(8) + 0x7ff, BOOT_MEM_USABLE); /* overlaps [8M, 20M) */
	map_add(MiB(15), KiB(64), BOOT_MEM_ACPI);
	map_add(MiB(30), MiB(10), BOOT_MEM_USABLE);
	map_add(MiB(33) + 0x1000, 0x2000, 5);			/* unknown type: reserved */
	map_add(MiB(25), 0x800, BOOT_MEM_USABLE);		/* less than a page */
	map_add(MiB(26) + 0x800, 0x2000, BOOT_MEM_USABLE);	/* holds one whole page */
	map_add(MiB(45), 0, BOOT_MEM_RESERVED);			/* empty */
	map_add(0, 0x9f000, BOOT_MEM_USABLE);			/* below 1 MiB: never */
	map_add(MiB(35), MiB(2), BOOT_MEM_USABLE);		/* inside [30M, 40M) */
	map_add(MiB(39), MiB(3), BOOT_MEM_RESERVED);		/* overlaps the end of [30M, 40M) */
	map_add(MiB(22), MiB(2), BOOT_MEM_RESERVED);		/* a hole with no usable entry */
	map_add(UINT64_MAX - 0x7ff, 0x700, BOOT_MEM_USABLE);	/* top of the address space */
	map_add(UINT64_MAX - 0xfff, 0x2000, BOOT_MEM_RESERVED); /* wraps around */
	bi.kernel_start = PA(MiB(2));
	bi.kernel_end = PA(MiB(3));
	map_module(MiB(17), MiB(18) + 1);
	map_module(MiB(31) + 0x10, MiB(31) + 0x20);
}

/* One big region holding a naturally aligned 1 GiB block at [1 GiB, 2 GiB). */
static void map_big(void)
{
	map_reset(GiB(2) + MiB(61)); /* room above 2 GiB for the metadata (~24 MiB) */
	map_add(MiB(1), GiB(2) + MiB(60), BOOT_MEM_USABLE);
	bi.kernel_start = PA(MiB(1));
	bi.kernel_end = PA(MiB(3));
}

static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < b1 && b0 < a1;
}

/* Naive model of frame_init's job, one page at a time, from the same boot_info. */
static void model_build(void)
{
	allowed_count = 0;
	allowed_lo = UINT64_MAX;
	allowed_hi = 0;
	for (uint64_t pfn = 0; pfn < MODEL_PFNS; pfn++) {
		uint64_t p0 = pfn << PAGE_SHIFT, p1 = p0 + PAGE_SIZE;
		bool ok = false;

		for (unsigned i = 0; i < bi.mem_count; i++) {
			const struct boot_mem_region *m = &bi.mem[i];

			if (m->type == BOOT_MEM_USABLE && m->base <= p0 && p1 <= m->base + m->len)
				ok = true;
		}
		for (unsigned i = 0; i < bi.mem_count; i++) {
			const struct boot_mem_region *m = &bi.mem[i];

			if (m->type != BOOT_MEM_USABLE &&
			    overlaps(p0, p1, m->base, m->base + m->len))
				ok = false;
		}
		if (overlaps(p0, p1, bi.kernel_start.v, bi.kernel_end.v))
			ok = false;
		for (unsigned i = 0; i < bi.mod_count; i++)
			if (overlaps(p0, p1, bi.mods[i].start.v, bi.mods[i].end.v))
				ok = false;
		if (p0 < MiB(1) || p1 > bi.direct_map_end)
			ok = false;
		allowed[pfn] = ok;
		page_owner[pfn] = 0;
		if (ok) {
			allowed_count++;
			allowed_lo = MIN(allowed_lo, pfn);
			allowed_hi = pfn + 1;
		}
	}
}

static void init_with(void (*map)(void))
{
	map();
	model_build();
	frame_init(&bi);
	for (unsigned k = 0; k <= FRAME_ORDER_MAX; k++)
		initial_blocks[k] = frame_order_free_count(k);
}

static uint64_t metadata_pages(void)
{
	uint64_t bytes = (allowed_hi - allowed_lo) * sizeof(struct frame);

	return ALIGN_UP(bytes, PAGE_SIZE) >> PAGE_SHIFT;
}

static bool blocks_match_initial(void)
{
	for (unsigned k = 0; k <= FRAME_ORDER_MAX; k++) {
		if (frame_order_free_count(k) != initial_blocks[k]) {
			snprintf(fake_why, sizeof(fake_why),
				 "order %u: %llu free blocks, %llu at start", k,
				 (unsigned long long)frame_order_free_count(k),
				 (unsigned long long)initial_blocks[k]);
			return false;
		}
	}
	return true;
}

/* ---- live blocks and their checks ---- */

struct block {
	struct frame *f;
	unsigned order;
	enum frame_type type;
};

#define LIVE_MAX 70000
static struct block live[LIVE_MAX];
static unsigned live_count;

static uint64_t block_pfn(const struct block *b)
{
	return frame_pa(b->f).v >> PAGE_SHIFT;
}

/* Checks a fresh block against the models, claims its pages and writes a pattern. */
static bool block_take(struct frame *f, unsigned order, enum frame_type type, bool check_zero)
{
	uint64_t pa = frame_pa(f).v, pfn = pa >> PAGE_SHIFT, n = 1ull << order;
	struct block *b = &live[live_count];

	T_ASSERT(live_count < LIVE_MAX);
	T_ASSERT(IS_ALIGNED(pa, PAGE_SIZE << order));
	T_ASSERT(pfn + n <= MODEL_PFNS);
	T_ASSERT(f->type == type && f->order == order);
	T_ASSERT(f->refcount == 1 && f->pin_count == 0);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t *words = frame_kva(f + i);

		T_ASSERT(allowed[pfn + i]); /* never reserved, a hole, low or above the map */
		T_ASSERT(page_owner[pfn + i] == 0); /* no overlap with another live block */
		T_ASSERT(frame_of(PA(pa + (i << PAGE_SHIFT))) == f + i);
		T_ASSERT(i == 0 || (f[i].type == type && f[i].refcount == 0));
		if (check_zero)
			for (unsigned w = 0; w < PAGE_SIZE / 8; w++)
				T_ASSERT(words[w] == 0);
		page_owner[pfn + i] = live_count + 1;
		words[0] = PATTERN ^ (pfn + i);
		words[PAGE_SIZE / 8 - 1] = ~(PATTERN ^ (pfn + i));
	}
	*b = (struct block){ f, order, type };
	live_count++;
	return true;
}

/* Verifies the pattern and metadata of live[idx], frees it and drops it from live[]. */
static bool block_release(unsigned idx)
{
	struct block b = live[idx];
	uint64_t pfn = block_pfn(&b), n = 1ull << b.order;

	T_ASSERT(b.f->type == b.type && b.f->order == b.order && b.f->refcount == 1);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t *words = frame_kva(b.f + i);

		T_ASSERT(page_owner[pfn + i] == idx + 1);
		T_ASSERT(words[0] == (PATTERN ^ (pfn + i)));
		T_ASSERT(words[PAGE_SIZE / 8 - 1] == ~(PATTERN ^ (pfn + i)));
		page_owner[pfn + i] = 0;
	}
	frame_free(b.f, b.order);
	T_ASSERT(b.f->type == FRAME_FREE);
	live_count--;
	if (idx != live_count) {
		live[idx] = live[live_count];
		pfn = block_pfn(&live[idx]);
		for (uint64_t i = 0; i < (1ull << live[idx].order); i++)
			page_owner[pfn + i] = idx + 1;
	}
	return true;
}

static bool release_all_random(void)
{
	while (live_count)
		if (!block_release((unsigned)(fake_rng_next() % live_count)))
			return false;
	return true;
}

/* Allocates blocks of this order until the allocator says no. */
static bool exhaust(unsigned order, enum frame_type type, bool check_zero)
{
	struct frame *f;

	while ((f = frame_alloc(order, type)) != NULL)
		if (!block_take(f, order, type, check_zero))
			return false;
	return true;
}

/* ---- tests ---- */

static bool check_init_matches_model(void (*map)(void))
{
	init_with(map);
	T_ASSERT(frame_total_count() == allowed_count - metadata_pages());
	T_ASSERT(frame_free_count() == frame_total_count());
	return true;
}

static bool init_typical_map_counts_match_model(void)
{
	return check_init_matches_model(map_typical);
}

static bool init_messy_map_counts_match_model(void)
{
	return check_init_matches_model(map_messy);
}

/* Every frame handed out is allowed by the naive model; the count is exact. */
static bool check_exhaust_order0(void (*map)(void))
{
	uint64_t start;

	init_with(map);
	start = frame_free_count();
	if (!exhaust(0, FRAME_KERNEL, true))
		return false;
	T_ASSERT(live_count == start);
	T_ASSERT(frame_free_count() == 0);
	for (unsigned k = 0; k <= FRAME_ORDER_MAX; k++)
		T_ASSERT(frame_order_free_count(k) == 0);
	fake_rng_state = 42;
	if (!release_all_random())
		return false;
	T_ASSERT(frame_free_count() == start);
	return blocks_match_initial();
}

static bool exhaust_order0_typical_avoids_reserved(void)
{
	return check_exhaust_order0(map_typical);
}

static bool exhaust_order0_messy_avoids_reserved(void)
{
	return check_exhaust_order0(map_messy);
}

/* Frees in allocation order, reverse order: both coalesce to the initial state. */
static bool coalesces_to_initial_state_in_any_free_order(void)
{
	init_with(map_messy);
	for (int pass = 0; pass < 2; pass++) {
		if (!exhaust(0, FRAME_USER, false))
			return false;
		while (live_count)
			if (!block_release(pass == 0 ? 0 : live_count - 1))
				return false;
		if (!blocks_match_initial())
			return false;
	}
	return true;
}

/* Exhausting at order k then order 0 leaves nothing; freeing restores everything. */
static bool exhaust_each_order_then_order0(void)
{
	init_with(map_typical);
	for (unsigned k = 1; k <= 12; k++) {
		if (!exhaust(k, FRAME_GUEST_RAM, false) || !exhaust(0, FRAME_KERNEL, false))
			return false;
		T_ASSERT(frame_free_count() == 0);
		fake_rng_state = k;
		if (!release_all_random())
			return false;
		T_ASSERT(frame_free_count() == frame_total_count());
		if (!blocks_match_initial())
			return false;
	}
	return true;
}

static bool random_mixed_orders_shadow_model(void)
{
	init_with(map_messy);
	for (uint64_t seed = 1; seed <= 3; seed++) {
		uint64_t used = 0;

		fake_rng_state = seed * 0x9e3779b97f4a7c15ull;
		for (int op = 0; op < 30000; op++) {
			uint64_t r = fake_rng_next();

			if (live_count < 600 && (live_count == 0 || r % 3 != 0)) {
				unsigned order = (r >> 8) % 16 == 0 ? (unsigned)((r >> 16) % 11)
								    : (unsigned)((r >> 16) % 4);
				enum frame_type type = FRAME_KERNEL + (unsigned)((r >> 24) % 4);
				struct frame *f = frame_alloc(order, type);

				if (!f) {
					for (unsigned k = order; k <= FRAME_ORDER_MAX; k++)
						T_ASSERT(frame_order_free_count(k) == 0);
					continue;
				}
				if (!block_take(f, order, type, true))
					return false;
				used += 1ull << order;
			} else {
				unsigned idx = (unsigned)((r >> 8) % live_count);

				used -= 1ull << live[idx].order;
				if (!block_release(idx))
					return false;
			}
			T_ASSERT(frame_free_count() + used == frame_total_count());
		}
		if (!release_all_random() || !blocks_match_initial())
			return false;
	}
	return true;
}

/* Fresh blocks are zeroed even when their last owner left data behind. */
static bool alloc_zeroes_and_sets_metadata(void)
{
	struct frame *f, *g;
	uint8_t *p;

	init_with(map_typical);
	f = frame_alloc(3, FRAME_PT_NODE);
	T_ASSERT(f != NULL);
	memset(frame_kva(f), 0xa5, PAGE_SIZE << 3);
	f->flags = 0x1234;
	f->priv = 77;
	frame_free(f, 3);
	g = frame_alloc(3, FRAME_USER);
	T_ASSERT(g == f); /* LIFO free lists hand the same block back */
	T_ASSERT(g->type == FRAME_USER && g->order == 3 && g->refcount == 1);
	T_ASSERT(g->pin_count == 0 && g->flags == 0 && g->priv == 0);
	p = frame_kva(g);
	for (uint64_t i = 0; i < (PAGE_SIZE << 3); i++)
		T_ASSERT(p[i] == 0);
	for (unsigned i = 1; i < 8; i++)
		T_ASSERT(g[i].type == FRAME_USER && g[i].refcount == 0);
	T_ASSERT(frame_of(frame_pa(g)) == g);
	frame_free(g, 3);
	return blocks_match_initial();
}

/* frame_head finds the head from every frame of blocks of every order. */
static bool head_of_every_frame(void)
{
	init_with(map_big);
	for (unsigned order = 0; order <= FRAME_ORDER_MAX; order += 3) {
		struct frame *f = frame_alloc(order, FRAME_USER), *g = frame_alloc(0, FRAME_USER);

		T_ASSERT(f != NULL && g != NULL);
		for (uint64_t i = 0; i < (1ull << order); i++)
			T_ASSERT(frame_head(f + i) == f);
		T_ASSERT(frame_head(g) == g);
		frame_free(g, 0);
		frame_free(f, order);
	}
	return blocks_match_initial();
}

/* A 1 GiB aligned region yields one block of the largest order, and it splits. */
static bool largest_order_block_is_naturally_aligned(void)
{
	struct frame *f, *g;

	init_with(map_big);
	T_ASSERT(frame_total_count() == allowed_count - metadata_pages());
	T_ASSERT(frame_order_free_count(FRAME_ORDER_MAX) == 1);
	f = frame_alloc(FRAME_ORDER_MAX, FRAME_GUEST_RAM);
	T_ASSERT(f != NULL);
	T_ASSERT(frame_pa(f).v == GiB(1));
	T_ASSERT(frame_alloc(FRAME_ORDER_MAX, FRAME_GUEST_RAM) == NULL);
	g = frame_alloc(FRAME_ORDER_MAX - 1, FRAME_GUEST_RAM);
	T_ASSERT(g != NULL && frame_pa(g).v == MiB(512)); /* the only one below 1 GiB */
	T_ASSERT(frame_alloc(FRAME_ORDER_MAX - 1, FRAME_GUEST_RAM) == NULL);
	frame_free(f, FRAME_ORDER_MAX);
	frame_free(g, FRAME_ORDER_MAX - 1);
	/* The exact-order block is used before the larger one is split. */
	g = frame_alloc(FRAME_ORDER_MAX - 1, FRAME_KERNEL);
	f = frame_alloc(FRAME_ORDER_MAX - 1, FRAME_KERNEL);
	T_ASSERT(g != NULL && frame_pa(g).v == MiB(512));
	T_ASSERT(f != NULL && frame_pa(f).v == GiB(1)); /* split: lower half first */
	T_ASSERT(frame_order_free_count(FRAME_ORDER_MAX - 1) == 1);
	T_ASSERT(frame_order_free_count(FRAME_ORDER_MAX) == 0);
	frame_free(f, FRAME_ORDER_MAX - 1);
	frame_free(g, FRAME_ORDER_MAX - 1);
	T_ASSERT(frame_free_count() == frame_total_count());
	if (!blocks_match_initial())
		return false;
	fake_arena_discard();
	return true;
}

/* ---- threads as CPUs ---- */

#define THREADS 4
#define THREAD_OPS 20000
#define THREAD_LIVE 64

struct churn {
	unsigned cpu;
	const char *bad;
};

/* One "CPU": alloc orders 0..3, stamp every frame with its own tag, verify, free. */
static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	struct {
		struct frame *f;
		unsigned order;
		uint64_t tag;
	} mine[THREAD_LIVE];
	uint64_t rng = 0x9e3779b97f4a7c15ull * (c->cpu + 1);
	unsigned n_live = 0;

	fake_set_cpu(c->cpu);
	for (uint64_t op = 0; op < THREAD_OPS && !c->bad; op++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		if (n_live < THREAD_LIVE && (n_live == 0 || rng % 3 != 0)) {
			unsigned order = (unsigned)((rng >> 8) % 4);
			uint64_t tag = ((uint64_t)c->cpu << 56) | op;
			struct frame *f = frame_alloc(order, FRAME_KERNEL);

			if (!f)
				continue;
			if (f->refcount != 1 || f->order != order)
				c->bad = "fresh block metadata";
			for (uint64_t i = 0; i < (1ull << order); i++) {
				uint64_t *w = frame_kva(f + i);

				if (w[0] != 0)
					c->bad = "fresh block not zeroed";
				w[0] = tag + i;
			}
			mine[n_live].f = f;
			mine[n_live].order = order;
			mine[n_live].tag = tag;
			n_live++;
		} else {
			unsigned k = (unsigned)((rng >> 8) % n_live);

			for (uint64_t i = 0; i < (1ull << mine[k].order); i++)
				if (*(uint64_t *)frame_kva(mine[k].f + i) != mine[k].tag + i)
					c->bad = "block written by another thread";
			frame_free(mine[k].f, mine[k].order);
			mine[k] = mine[--n_live];
		}
	}
	while (n_live) {
		n_live--;
		frame_free(mine[n_live].f, mine[n_live].order);
	}
	return NULL;
}

/* Four threads playing CPUs churn at once: blocks stay private, all coalesces back. */
static bool concurrent_threads_churn(void)
{
	pthread_t th[THREADS];
	struct churn c[THREADS];

	init_with(map_typical);
	for (unsigned i = 0; i < THREADS; i++) {
		c[i] = (struct churn){ i + 1, NULL };
		T_ASSERT(pthread_create(&th[i], NULL, churn_thread, &c[i]) == 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < THREADS; i++) {
		if (c[i].bad) {
			snprintf(fake_why, sizeof(fake_why), "thread %u: %s", i, c[i].bad);
			return false;
		}
	}
	T_ASSERT(frame_free_count() == frame_total_count());
	return blocks_match_initial();
}

/* ---- misuse must panic (CHECK): run in a forked child ---- */

static void misuse_double_free(void)
{
	struct frame *f = frame_alloc(0, FRAME_KERNEL);

	frame_free(f, 0);
	frame_free(f, 0);
}

static void misuse_double_free_after_merge(void)
{
	struct frame *f = frame_alloc(2, FRAME_KERNEL);

	frame_free(f, 2); /* merges with its buddies: f is now inside a bigger block */
	frame_free(f, 2);
}

static void misuse_wrong_order(void)
{
	struct frame *f = frame_alloc(2, FRAME_KERNEL);

	frame_free(f, 1);
}

static void misuse_free_tail(void)
{
	struct frame *f = frame_alloc(2, FRAME_KERNEL);

	frame_free(f + 1, 0);
}

static void misuse_free_pinned(void)
{
	struct frame *f = frame_alloc(0, FRAME_GUEST_RAM);

	f->pin_count = 1;
	frame_free(f, 0);
}

static void misuse_free_referenced(void)
{
	struct frame *f = frame_alloc(0, FRAME_USER);

	frame_get(f);
	frame_free(f, 0);
}

static void misuse_free_reserved(void)
{
	frame_free(frame_of(PA(MiB(12))), 0); /* cut by a reserved entry in map_messy */
}

static void misuse_frame_of_outside(void)
{
	(void)frame_of(PA(MiB(70)));
}

static bool misuse_panics(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {
		{ "double free", misuse_double_free },
		{ "double free after merge", misuse_double_free_after_merge },
		{ "wrong order", misuse_wrong_order },
		{ "free of a tail frame", misuse_free_tail },
		{ "free of a pinned frame", misuse_free_pinned },
		{ "free with refcount 2", misuse_free_referenced },
		{ "free of a reserved frame", misuse_free_reserved },
		{ "frame_of outside the managed span", misuse_frame_of_outside },
	};

	init_with(map_messy);
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		if (!fake_child_panics(cases[i].fn)) {
			snprintf(fake_why, sizeof(fake_why), "%s did not panic", cases[i].name);
			return false;
		}
	}
	return blocks_match_initial(); /* the children's damage stayed in the children */
}

static const struct fake_test tests[] = {
	{ "init_typical_map_counts_match_model", init_typical_map_counts_match_model },
	{ "init_messy_map_counts_match_model", init_messy_map_counts_match_model },
	{ "exhaust_order0_typical_avoids_reserved", exhaust_order0_typical_avoids_reserved },
	{ "exhaust_order0_messy_avoids_reserved", exhaust_order0_messy_avoids_reserved },
	{ "coalesces_to_initial_state_in_any_free_order",
	  coalesces_to_initial_state_in_any_free_order },
	{ "exhaust_each_order_then_order0", exhaust_each_order_then_order0 },
	{ "random_mixed_orders_shadow_model", random_mixed_orders_shadow_model },
	{ "alloc_zeroes_and_sets_metadata", alloc_zeroes_and_sets_metadata },
	{ "largest_order_block_is_naturally_aligned", largest_order_block_is_naturally_aligned },
	{ "head_of_every_frame", head_of_every_frame },
	{ "concurrent_threads_churn", concurrent_threads_churn },
	{ "misuse_panics", misuse_panics },
};

static void reset_live(void)
{
	live_count = 0;
}

int main(int argc, char **argv)
{
	fake_arena_init(ARENA_SIZE);
	return fake_run_tests(tests, ARRAY_SIZE(tests), argc, argv, reset_live);
}
