/*
 * Differential test: random operations on the real engine against a flat reference
 * model, per format (x86-64, EPT, fake). Two tables per format so copy_from is covered.
 * Usage: test_pt_diff [ops-per-format] [seed]   (env PT_DIFF_SEED overrides the seed too)
 * The seed is printed; a divergence prints the operation number to replay.
 *
 * The model is an array of 2 MiB chunks, each empty, uniform (all 512 pages mapped
 * contiguously with one prop) or split into 512 page records; every leaf size of the
 * three formats is 4 KiB or a multiple of 2 MiB.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <keel/errno.h>

#include "pt_test.h"

#define CHUNK SIZE_2M
#define CPAGES 512

struct mpage {
	bool mapped;
	uint64_t pa;
	struct pt_prop prop;
};

struct mchunk {
	uint8_t kind; /* 0 empty, 1 uniform, 2 split */
	uint64_t pa;
	struct pt_prop prop;
	struct mpage *pages;
};

struct model {
	uint64_t lo, len; /* linear window */
	size_t nchunks;
	struct mchunk *c;
	uint64_t mapped; /* pages */
};

struct side {
	struct pt_env env;
	struct model m;
	uint64_t leaves; /* engine leaves at the last full check */
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void model_init(struct model *m, uint64_t lo, uint64_t len)
{
	m->lo = lo;
	m->len = len;
	m->nchunks = len / CHUNK;
	m->c = calloc(m->nchunks, sizeof(*m->c));
	m->mapped = 0;
	CHECK(m->c);
}

static void model_fini(struct model *m)
{
	for (size_t i = 0; i < m->nchunks; i++)
		free(m->c[i].pages);
	free(m->c);
}

static struct mpage model_get(const struct model *m, uint64_t va)
{
	const struct mchunk *c = &m->c[(va - m->lo) / CHUNK];
	unsigned i = (unsigned)((va - m->lo) % CHUNK / PAGE_SIZE);

	if (c->kind == 0)
		return (struct mpage){ 0 };
	if (c->kind == 1)
		return (struct mpage){ true, c->pa + (uint64_t)i * PAGE_SIZE, c->prop };
	return c->pages[i];
}

static void model_split(struct mchunk *c)
{
	if (c->kind == 2)
		return;
	if (!c->pages)
		c->pages = malloc(CPAGES * sizeof(struct mpage));
	CHECK(c->pages);
	for (unsigned i = 0; i < CPAGES; i++)
		c->pages[i] =
		    (struct mpage){ c->kind == 1, c->pa + (uint64_t)i * PAGE_SIZE, c->prop };
	c->kind = 2;
}

/* Sets [va, va + len) to mapped (pa contiguous) or unmapped. */
static void model_set(struct model *m, uint64_t va, uint64_t len, bool map, uint64_t pa,
		      struct pt_prop prop)
{
	while (len) {
		struct mchunk *c = &m->c[(va - m->lo) / CHUNK];
		unsigned i = (unsigned)((va - m->lo) % CHUNK / PAGE_SIZE);

		if (i == 0 && len >= CHUNK) {
			if (c->kind == 1)
				m->mapped -= CPAGES;
			else if (c->kind == 2)
				for (unsigned j = 0; j < CPAGES; j++)
					m->mapped -= c->pages[j].mapped;
			c->kind = map ? 1 : 0;
			c->pa = pa;
			c->prop = prop;
			m->mapped += map ? CPAGES : 0;
			va += CHUNK, pa += CHUNK, len -= CHUNK;
			continue;
		}
		model_split(c);
		m->mapped -= c->pages[i].mapped;
		c->pages[i] = (struct mpage){ map, pa, prop };
		m->mapped += map;
		va += PAGE_SIZE, pa += PAGE_SIZE, len -= PAGE_SIZE;
	}
}

static bool model_any_mapped(const struct model *m, uint64_t va, uint64_t len)
{
	for (; len;) {
		const struct mchunk *c = &m->c[(va - m->lo) / CHUNK];
		unsigned i = (unsigned)((va - m->lo) % CHUNK / PAGE_SIZE);

		if (i == 0 && len >= CHUNK && c->kind != 2) {
			if (c->kind == 1)
				return true;
			va += CHUNK, len -= CHUNK;
			continue;
		}
		if (model_get(m, va).mapped)
			return true;
		va += PAGE_SIZE, len -= PAGE_SIZE;
	}
	return false;
}

static void model_protect(struct model *m, uint64_t va, uint64_t len, pt_protect_fn fn)
{
	for (; len;) {
		struct mchunk *c = &m->c[(va - m->lo) / CHUNK];
		unsigned i = (unsigned)((va - m->lo) % CHUNK / PAGE_SIZE);

		if (i == 0 && len >= CHUNK && c->kind != 2) {
			if (c->kind == 1)
				fn(&c->prop, NULL);
			va += CHUNK, len -= CHUNK;
			continue;
		}
		model_split(c);
		if (c->pages[i].mapped)
			fn(&c->pages[i].prop, NULL);
		va += PAGE_SIZE, len -= PAGE_SIZE;
	}
}

/* ---- protect operations (all expressible in every format for the props we use) */
static void op_clear_w(struct pt_prop *p, void *a)
{
	(void)a;
	p->flags &= (uint16_t)~PT_PROP_W;
}
static void op_set_w(struct pt_prop *p, void *a)
{
	(void)a;
	p->flags |= PT_PROP_W;
}
static void op_soft(struct pt_prop *p, void *a)
{
	(void)a;
	p->soft ^= 1;
}
static void op_dirty(struct pt_prop *p, void *a)
{
	(void)a;
	p->flags ^= PT_PROP_DIRTY;
}
static const pt_protect_fn protect_ops[] = { op_clear_w, op_set_w, op_soft, op_dirty };

static struct pt_prop rnd_prop(const struct pt_format *f)
{
	static const uint16_t flags[] = { PT_PROP_R, PT_PROP_RW, PT_PROP_RX, PT_PROP_RWX,
					  PT_PROP_RW | PT_PROP_ACCESSED | PT_PROP_DIRTY };
	static const uint8_t caches[] = { PT_CACHE_WB, PT_CACHE_UC, PT_CACHE_WT, PT_CACHE_WC };
	struct pt_prop p = { flags[rnd_below(ARRAY_SIZE(flags))],
			     caches[rnd_below(ARRAY_SIZE(caches))], (uint8_t)rnd_below(4) };
	uint64_t raw;

	CHECK(f->encode_leaf(PA(0), p, 1, &raw) == 0);
	return p;
}

static uint64_t leaf_sizes[PT_MAX_LEVELS];
static unsigned leaf_size_count;

/* A random page-aligned position, biased toward a hot region to make ops collide. */
static uint64_t rnd_va(const struct model *m, uint64_t align)
{
	uint64_t span = rnd_below(4) ? MIN(m->len, 64 * CHUNK) : m->len;

	return m->lo + ALIGN_DOWN(rnd_below(span), align);
}

static uint64_t rnd_len(const struct model *m, uint64_t va)
{
	uint64_t room = m->lo + m->len - va, len;

	switch (rnd_below(16)) {
	case 0 ... 5:
		len = (1 + rnd_below(16)) * PAGE_SIZE;
		break;
	case 6 ... 10:
		len = (1 + rnd_below(2 * CPAGES)) * PAGE_SIZE;
		break;
	case 11 ... 14:
		len = (1 + rnd_below(4)) * CHUNK;
		break;
	default:
		len = ALIGN_UP(rnd_below(room) + 1, PAGE_SIZE);
		break;
	}
	return MIN(len, room);
}

/*
 * Counting-only leaf ops: per-pa tracking (pt_test_leaf_ops) costs a cache miss per
 * leaf and dominated the run; here the live total is checked against the engine's leaf
 * count at every full check, and must never go negative.
 */
static long live_refs;
static bool live_underflow;

static void cnt_get(void *ctx, paddr_t pa, unsigned level)
{
	(void)ctx, (void)pa, (void)level;
	live_refs++;
}

static void cnt_put(void *ctx, paddr_t pa, unsigned level)
{
	(void)ctx, (void)pa, (void)level;
	if (--live_refs < 0)
		live_underflow = true;
}

static const struct pt_leaf_ops count_ops = { .get = cnt_get, .put = cnt_put };

/*
 * Flush recording: every page an unmap or protect changed must lie in a range the
 * batch handed to its flush hook during that operation (or the batch flushed all).
 */
#define FR_MAX 65536
struct fr_range {
	uint64_t lo, hi;
};
static struct fr_range fr[FR_MAX];
static unsigned fr_n;
static bool fr_all;
static uint64_t fr_mask;

static void diff_flush(struct pt_flush_batch *b)
{
	if (b->flush_all)
		fr_all = true;
	for (unsigned i = 0; i < b->range_count; i++) {
		uint64_t lo = b->range[i].start.v & fr_mask;

		if (fr_n == FR_MAX)
			fr_all = true;
		else
			fr[fr_n++] = (struct fr_range){ lo, lo + b->range[i].len };
	}
}

static const struct pt_flush_ops diff_flush_ops = { .flush = diff_flush };

static int fr_cmp(const void *a, const void *b)
{
	const struct fr_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorts and merges the recorded ranges. */
static void fr_seal(void)
{
	unsigned n = 0;

	qsort(fr, fr_n, sizeof(fr[0]), fr_cmp);
	for (unsigned i = 0; i < fr_n; i++) {
		if (n && fr[i].lo <= fr[n - 1].hi)
			fr[n - 1].hi = MAX(fr[n - 1].hi, fr[i].hi);
		else
			fr[n++] = fr[i];
	}
	fr_n = n;
}

/* True if [lo, hi) lies inside the recorded (sealed) flushes. */
static bool fr_covers(uint64_t lo, uint64_t hi)
{
	unsigned a = 0, b = fr_n;

	if (fr_all)
		return true;
	while (a < b) { /* first range with lo > query lo */
		unsigned m = (a + b) / 2;

		if (fr[m].lo <= lo)
			a = m + 1;
		else
			b = m;
	}
	return a > 0 && fr[a - 1].hi >= hi;
}

/*
 * Checks that every page of [va, va + len) that the operation changes (per the model
 * before it is updated) was flushed: mapped pages for unmap, pages whose props fn
 * changes for protect.
 */
static bool flush_covered(const struct model *m, uint64_t va, uint64_t len, pt_protect_fn fn)
{
	fr_seal();
	for (uint64_t end = va + len; va < end;) {
		const struct mchunk *c = &m->c[(va - m->lo) / CHUNK];
		struct mpage p;
		struct pt_prop q;

		if (c->kind != 2 && IS_ALIGNED(va - m->lo, CHUNK) && end - va >= CHUNK) {
			q = c->prop;
			if (fn)
				fn(&q, NULL);
			if (c->kind == 1 && (!fn || !pt_prop_equal(q, c->prop)) &&
			    !fr_covers(va, va + CHUNK))
				return false;
			va += CHUNK;
			continue;
		}
		p = model_get(m, va);
		q = p.prop;
		if (fn)
			fn(&q, NULL);
		if (p.mapped && (!fn || !pt_prop_equal(q, p.prop)) &&
		    !fr_covers(va, va + PAGE_SIZE))
			return false;
		va += PAGE_SIZE;
	}
	return true;
}

static uint64_t fails;
static bool trace;
#define TRACE(...)                                    \
	do {                                          \
		if (trace)                            \
			fprintf(stderr, __VA_ARGS__); \
	} while (0)
static uint64_t op_no;

#define DIVERGE(...)                                                      \
	do {                                                              \
		fprintf(stderr, "divergence at op %" PRIu64 ": ", op_no); \
		fprintf(stderr, __VA_ARGS__);                             \
		fputc('\n', stderr);                                      \
		fails++;                                                  \
		return false;                                             \
	} while (0)

static int begin(struct side *s, struct pt_cursor *c, uint64_t va, uint64_t len)
{
	return pt_cursor_begin(c, &s->env.t, env_va(&s->env, va), env_va(&s->env, va + len),
			       &s->env.b);
}

static void end(struct side *s, struct pt_cursor *c)
{
	pt_cursor_end(c);
	pt_flush_batch_finish(&s->env.b);
}

static bool do_map(struct side *s, const struct pt_format *f)
{
	/* 4K mostly; the largest size rarely (splitting it makes 2^17..2^18 small leaves) */
	unsigned r = (unsigned)rnd_below(100);
	uint64_t size = leaf_sizes[r < 70 ? 0 : r < 99 || leaf_size_count < 3 ? 1 : 2];
	uint64_t va = rnd_va(&s->m, size), pa = ALIGN_DOWN(rnd() & ((1ull << 44) - 1), size);
	struct pt_prop prop = rnd_prop(f);
	bool inject = rnd_below(50) == 0, exist;
	struct pt_cursor c;
	int err, want;

	if (leaf_size_count == 2 && r >= 70 && r < 95)
		size = PAGE_SIZE;
	if (va + size > s->m.lo + s->m.len)
		return true;
	pa += size; /* never 0 */
	exist = model_any_mapped(&s->m, va, size);
	want = exist ? -EEXIST : 0;
	CHECK(begin(s, &c, va, size) == 0);
	if (inject)
		fake_fail_after((long)rnd_below(3));
	err = pt_cursor_map(&c, PA(pa), size, prop);
	fake_fail_off();
	TRACE("%" PRIu64 " map %#" PRIx64 " %#" PRIx64 " pa %#" PRIx64 " f%x c%u s%u inj%d -> %d\n",
	      op_no, va, size, pa, prop.flags, prop.cache, prop.soft, inject, err);
	end(s, &c);
	if (err == -ENOMEM && inject && !exist)
		return true; /* table unchanged: checked by the later compares */
	if (err != want)
		DIVERGE("map %#" PRIx64 "+%#" PRIx64 ": got %d want %d", va, size, err, want);
	if (!err)
		model_set(&s->m, va, size, true, pa, prop);
	return true;
}

static bool do_map_range(struct side *s, const struct pt_format *f)
{
	uint64_t va = rnd_va(&s->m, PAGE_SIZE), len = rnd_len(&s->m, va);
	uint64_t pa = ALIGN_DOWN(rnd() & ((1ull << 44) - 1), rnd_below(2) ? CHUNK : PAGE_SIZE);
	struct pt_prop prop = rnd_prop(f);
	bool inject = rnd_below(20) == 0, exist;
	struct pt_cursor c;
	int err, want;

	if (len > 16 * CHUNK)
		len = 16 * CHUNK;
	pa += CHUNK;
	if (!rnd_below(2)) /* align va to pa modulo 2 MiB so huge leaves fit */
		va = MIN(ALIGN_DOWN(va, CHUNK) + (pa % CHUNK), s->m.lo + s->m.len - len);
	va = ALIGN_DOWN(va, PAGE_SIZE);
	exist = model_any_mapped(&s->m, va, len);
	want = exist ? -EEXIST : 0;
	CHECK(begin(s, &c, va, len) == 0);
	if (inject)
		fake_fail_after((long)rnd_below(4));
	err = pt_cursor_map_range(&c, len, PA(pa), prop);
	fake_fail_off();
	TRACE("%" PRIu64 " map_range %#" PRIx64 " %#" PRIx64 " pa %#" PRIx64 " inj%d -> %d\n",
	      op_no, va, len, pa, inject, err);
	end(s, &c);
	if (err == -ENOMEM && inject && !exist)
		return true;
	if (err != want)
		DIVERGE("map_range %#" PRIx64 "+%#" PRIx64 ": got %d want %d", va, len, err, want);
	if (!err)
		model_set(&s->m, va, len, true, pa, prop);
	return true;
}

/* Unmap or protect; an injected -ENOMEM stops part-way, and a retry must finish the job. */
static bool do_unmap_protect(struct side *s, bool protect)
{
	uint64_t va = rnd_va(&s->m, PAGE_SIZE), len = rnd_len(&s->m, va);
	pt_protect_fn fn = protect_ops[rnd_below(ARRAY_SIZE(protect_ops))];
	/* injected failures only for idempotent changes, which a retry can finish */
	bool inject = rnd_below(20) == 0 && (fn == op_clear_w || fn == op_set_w || !protect);
	struct pt_cursor c;
	int err;

	fr_n = 0;
	fr_all = false;
	CHECK(begin(s, &c, va, len) == 0);
	if (inject)
		fake_fail_after((long)rnd_below(2));
	err = protect ? pt_cursor_protect(&c, len, fn, NULL) : pt_cursor_unmap(&c, len);
	fake_fail_off();
	TRACE("%" PRIu64 " %s %#" PRIx64 " %#" PRIx64 " inj%d -> %d\n", op_no,
	      protect ? "protect" : "unmap", va, len, inject, err);
	if (err == -ENOMEM && inject) {
		/* each step is atomic: finishing the job from the start must converge */
		CHECK(pt_cursor_jump(&c, env_va(&s->env, va)) == 0);
		err = protect ? pt_cursor_protect(&c, len, fn, NULL) : pt_cursor_unmap(&c, len);
	}
	end(s, &c);
	if (err)
		DIVERGE("%s %#" PRIx64 "+%#" PRIx64 ": got %d", protect ? "protect" : "unmap", va,
			len, err);
	if (!flush_covered(&s->m, va, len, protect ? fn : NULL))
		DIVERGE("%s %#" PRIx64 "+%#" PRIx64 ": a changed page was not flushed",
			protect ? "protect" : "unmap", va, len);
	if (protect)
		model_protect(&s->m, va, len, fn);
	else
		model_set(&s->m, va, len, false, 0, (struct pt_prop){ 0 });
	return true;
}

static uint64_t lin_of(const struct side *s, vaddr_t va)
{
	return va.v & ((1ull << s->env.t.fmt->va_bits) - 1);
}

static bool do_query(struct side *s)
{
	uint64_t va = rnd_va(&s->m, PAGE_SIZE);
	struct pt_cursor c;
	struct pt_item it;
	struct mpage p = model_get(&s->m, va);

	CHECK(begin(s, &c, va, PAGE_SIZE) == 0);
	CHECK(pt_cursor_query(&c, &it) == 0);
	end(s, &c);
	TRACE("%" PRIu64 " query %#" PRIx64 ": %d va %#" PRIx64 " size %#" PRIx64 " pa %#" PRIx64
	      " f%x c%u s%u | model %d pa %#" PRIx64 " f%x c%u s%u\n",
	      op_no, va, it.kind, it.va.v, it.size, it.pa.v, it.prop.flags, it.prop.cache,
	      it.prop.soft, p.mapped, p.pa, p.prop.flags, p.prop.cache, p.prop.soft);
	if ((it.kind == PT_ITEM_LEAF) != p.mapped)
		DIVERGE("query %#" PRIx64 ": engine %d model %d", va, it.kind, p.mapped);
	if (p.mapped &&
	    (it.pa.v + (va - lin_of(s, it.va)) != p.pa || !pt_prop_equal(it.prop, p.prop)))
		DIVERGE("query %#" PRIx64 ": pa/prop differ", va);
	return true;
}

/* Copies a window of a into b (dst window emptied first). */
static bool do_copy(struct side *a, struct side *b)
{
	uint64_t sva = rnd_va(&a->m, PAGE_SIZE), len = rnd_len(&a->m, sva);
	uint64_t dva = rnd_va(&b->m, PAGE_SIZE);
	unsigned flags = rnd_below(2) ? PT_COPY_WRITE_PROTECT : 0;
	struct pt_cursor cs, cd;
	int err;

	if (rnd_below(2)) /* keep huge leaves huge */
		dva = ALIGN_DOWN(dva, CHUNK) + sva % CHUNK;
	len = MIN(len, MIN(64 * CHUNK, b->m.lo + b->m.len - dva));
	if (!len)
		return true;
	CHECK(begin(b, &cd, dva, len) == 0);
	CHECK(pt_cursor_unmap(&cd, len) == 0);
	model_set(&b->m, dva, len, false, 0, (struct pt_prop){ 0 });
	CHECK(pt_cursor_jump(&cd, env_va(&b->env, dva)) == 0);
	CHECK(begin(a, &cs, sva, len) == 0);
	err = pt_cursor_copy_from(&cd, &cs, len, flags);
	TRACE("%" PRIu64 " copy %#" PRIx64 " -> %#" PRIx64 " %#" PRIx64 " fl%u -> %d\n", op_no, sva,
	      dva, len, flags, err);
	pt_cursor_end(&cs);
	pt_cursor_end(&cd);
	pt_flush_batch_finish(&a->env.b);
	pt_flush_batch_finish(&b->env.b);
	if (err)
		DIVERGE("copy %#" PRIx64 "->%#" PRIx64 "+%#" PRIx64 ": %d", sva, dva, len, err);
	for (uint64_t off = 0; off < len; off += PAGE_SIZE) {
		struct mpage p = model_get(&a->m, sva + off);

		if (!p.mapped)
			continue;
		if (flags)
			op_clear_w(&p.prop, NULL);
		model_set(&b->m, dva + off, PAGE_SIZE, true, p.pa, p.prop);
	}
	if (flags)
		model_protect(&a->m, sva, len, op_clear_w);
	return true;
}

/* Compares every leaf of the engine with the model, and the page counts. */
static bool full_check(struct side *s)
{
	struct pt_cursor c;
	struct pt_item it;
	uint64_t pages = 0, leaves = 0;

	CHECK(begin(s, &c, s->m.lo, s->m.len) == 0);
	while (pt_cursor_find_next(&c, UINT64_MAX, &it) == 0) {
		uint64_t base = lin_of(s, it.va);

		leaves++;
		pages += it.size / PAGE_SIZE;
		for (uint64_t off = 0; off < it.size; off += PAGE_SIZE) {
			struct mpage p = model_get(&s->m, base + off);

			if (!p.mapped || p.pa != it.pa.v + off || !pt_prop_equal(p.prop, it.prop)) {
				end(s, &c);
				DIVERGE("leaf %#" PRIx64 " size %#" PRIx64 " page +%#" PRIx64, base,
					it.size, off);
			}
		}
		if (base + it.size >= s->m.lo + s->m.len)
			break;
		CHECK(pt_cursor_jump(&c, env_va(&s->env, base + it.size)) == 0);
	}
	end(s, &c);
	s->leaves = leaves;
	if (pages != s->m.mapped)
		DIVERGE("engine maps %" PRIu64 " pages, model %" PRIu64, pages, s->m.mapped);
	TRACE("# full check: %" PRIu64 " leaves, %" PRIu64 " pages\n", leaves, pages);
	return true;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_format(const struct pt_test_fmt *tf, uint64_t ops, uint64_t seed)
{
	const struct pt_format *f = tf->fmt;
	struct side s[2];
	uint64_t window = 4 * pt_format_level_size(f, f->levels - 1), nodes0;
	double t0 = now();
	bool ok = true;

	if (f->levels == 3) /* fake: levels 3 holds the huge leaves */
		window = 4 * pt_format_level_size(f, 3);
	leaf_size_count = 0;
	for (unsigned l = 1; l <= f->levels; l++)
		if (pt_format_has_leaf(f, l))
			leaf_sizes[leaf_size_count++] = pt_format_level_size(f, l);
	rng_state = (seed ^ ((uint64_t)f->name[0] << 32)) | 1;
	live_refs = 0;
	live_underflow = false;
	fr_mask = (1ull << f->va_bits) - 1;
	nodes0 = fake_pt_nodes_in_use();
	fails = 0;
	for (int i = 0; i < 2; i++) {
		env_init(&s[i].env, tf, &count_ops);
		pt_flush_batch_init(&s[i].env.b, &diff_flush_ops, NULL);
		model_init(&s[i].m, tf->space_lo, window);
	}
	for (op_no = 0; op_no < ops && ok; op_no++) {
		struct side *x = &s[rnd_below(2)];
		unsigned r = (unsigned)rnd_below(100);

		if (r < 30)
			ok = do_map(x, f);
		else if (r < 40)
			ok = do_map_range(x, f);
		else if (r < 58)
			ok = do_unmap_protect(x, false);
		else if (r < 73)
			ok = do_unmap_protect(x, true);
		else if (r < 95)
			ok = do_query(x);
		else
			ok = do_copy(x, &s[x == &s[0]]);
		if (ok && op_no % 50000 == 49999) {
			ok = full_check(&s[0]) && full_check(&s[1]);
			if (ok && live_refs != (long)(s[0].leaves + s[1].leaves)) {
				fprintf(stderr, "leaf references %ld, leaves %" PRIu64 "\n",
					live_refs, s[0].leaves + s[1].leaves);
				ok = false;
			}
		}
	}
	if (ok)
		ok = full_check(&s[0]) && full_check(&s[1]);
	for (int i = 1; i >= 0; i--) {
		env_fini(&s[i].env);
		model_fini(&s[i].m);
	}
	tap_count++;
	if (!ok || live_refs != 0 || live_underflow || fake_pt_nodes_in_use() != nodes0) {
		tap_failed++;
		printf("not ok %d - %s: differential %" PRIu64 " ops # seed %#" PRIx64
		       " op %" PRIu64 " refs %ld nodes %" PRIu64 "\n",
		       tap_count, f->name, ops, seed, op_no, live_refs,
		       fake_pt_nodes_in_use() - nodes0);
	} else {
		printf("ok %d - %s: differential %" PRIu64 " ops, 0 divergences, all frames back"
		       " (%.1f s)\n",
		       tap_count, f->name, ops, now() - t0);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	uint64_t ops = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x6b65656c;

	if (getenv("PT_DIFF_SEED"))
		seed = strtoull(getenv("PT_DIFF_SEED"), NULL, 0);
	trace = getenv("PT_DIFF_TRACE") != NULL;
	fake_arch_init();
	printf("# differential: %" PRIu64 " ops per format, seed %#" PRIx64 "\n", ops, seed);
	for (size_t i = 0; i < ARRAY_SIZE(pt_test_fmts); i++)
		run_format(&pt_test_fmts[i], ops, seed);
	return tap_finish();
}
