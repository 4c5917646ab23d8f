/* TAP runner and per-format parameters shared by the page-table host tests. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <keel/check.h>

#include "pt_test.h"

int tap_count, tap_failed;
bool tap_cur_failed;
char tap_why[256];

void tap_fail(const char *file, int line, const char *expr)
{
	if (!tap_cur_failed)
		snprintf(tap_why, sizeof(tap_why), "%s:%d: %.180s", file, line, expr);
	tap_cur_failed = true;
}

void tap_run(const char *name, void (*fn)(const void *arg), const void *arg)
{
	uint64_t nodes = fake_pt_nodes_in_use();

	tap_cur_failed = false;
	tap_why[0] = 0;
	fn(arg);
	if (!tap_cur_failed && fake_pt_nodes_in_use() != nodes)
		tap_fail(__FILE__, __LINE__, "page-table nodes leaked");
	tap_count++;
	if (tap_cur_failed) {
		tap_failed++;
		printf("not ok %d - %s # %s\n", tap_count, name, tap_why);
	} else {
		printf("ok %d - %s\n", tap_count, name);
	}
	fflush(stdout);
}

void tap_run_formats(const char *name, void (*fn)(const void *arg))
{
	char full[128];

	for (size_t f = 0; f < ARRAY_SIZE(pt_test_fmts); f++) {
		snprintf(full, sizeof(full), "%s: %s", pt_test_fmts[f].fmt->name, name);
		tap_run(full, fn, &pt_test_fmts[f]);
	}
}

int tap_finish(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

const struct pt_test_fmt pt_test_fmts[3] = {
	{
	    .fmt = &pt_format_x86_64,
	    .huge = SIZE_2M,
	    .space_lo = 1ull << 47, /* the upper half: sign extension everywhere */
	    .space_hi = 1ull << 48,
	    .rw = { .flags = PT_PROP_RW | PT_PROP_USER, .cache = PT_CACHE_WB },
	    .refused = { .flags = PT_PROP_W | PT_PROP_X },
	},
	{
	    .fmt = &pt_format_ept,
	    .huge = SIZE_2M,
	    .space_lo = 0,
	    .space_hi = 1ull << 48,
	    .rw = { .flags = PT_PROP_RW, .cache = PT_CACHE_WB },
	    .refused = { .flags = PT_PROP_RW | PT_PROP_USER },
	},
	{
	    .fmt = &pt_format_fake,
	    .huge = 1ull << 29,
	    .space_lo = 1ull << 29,
	    .space_hi = 63ull << 29,
	    .rw = { .flags = PT_PROP_RW, .cache = PT_CACHE_WB },
	    .refused = { .flags = PT_PROP_W },
	},
};

/* ---- counting leaf ops */
#include <pthread.h>

#define REF_SLOTS (1u << 22)
struct ref_slot {
	uint64_t pa; /* 0: empty (test pas are never 0) */
	long count;
};
static struct ref_slot *ref_table;
static pthread_mutex_t ref_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t ref_get_n, ref_put_n;
static long ref_live;
static bool ref_under;

static uint64_t ref_hash(uint64_t pa)
{
	return ((pa >> 12) * 0x9e3779b97f4a7c15ull) >> 42; /* 22 bits */
}

/* Linear probing; slots whose count drops to 0 are deleted by backward shifting. */
static struct ref_slot *ref_slot(uint64_t pa)
{
	if (!ref_table) {
		ref_table = calloc(REF_SLOTS, sizeof(*ref_table));
		CHECK(ref_table);
	}
	for (uint64_t i = ref_hash(pa);; i = (i + 1) & (REF_SLOTS - 1)) {
		if (ref_table[i].pa == pa || ref_table[i].pa == 0) {
			ref_table[i].pa = pa;
			return &ref_table[i];
		}
	}
}

static void ref_delete(struct ref_slot *s)
{
	uint64_t i = (uint64_t)(s - ref_table), j = i;

	for (;;) {
		uint64_t k;

		ref_table[i].pa = 0;
		ref_table[i].count = 0;
		for (;;) {
			j = (j + 1) & (REF_SLOTS - 1);
			if (ref_table[j].pa == 0)
				return;
			k = ref_hash(ref_table[j].pa);
			/* move j back to i unless its home k lies cyclically in (i, j] */
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		ref_table[i] = ref_table[j];
		i = j;
	}
}

static void ref_get(void *ctx, paddr_t pa, unsigned level)
{
	(void)ctx;
	(void)level;
	pthread_mutex_lock(&ref_lock);
	ref_slot(pa.v)->count++;
	ref_get_n++;
	ref_live++;
	pthread_mutex_unlock(&ref_lock);
}

static void ref_put(void *ctx, paddr_t pa, unsigned level)
{
	struct ref_slot *s;

	(void)ctx;
	(void)level;
	pthread_mutex_lock(&ref_lock);
	s = ref_slot(pa.v);
	if (s->count <= 0)
		ref_under = true;
	s->count--;
	if (s->count == 0)
		ref_delete(s);
	ref_put_n++;
	ref_live--;
	pthread_mutex_unlock(&ref_lock);
}

const struct pt_leaf_ops pt_test_leaf_ops = { .get = ref_get, .put = ref_put, .ctx = NULL };

void ref_reset(void)
{
	pthread_mutex_lock(&ref_lock);
	if (ref_table)
		memset(ref_table, 0, REF_SLOTS * sizeof(*ref_table));
	ref_get_n = ref_put_n = 0;
	ref_live = 0;
	ref_under = false;
	pthread_mutex_unlock(&ref_lock);
}

long ref_count(paddr_t pa)
{
	long n;

	pthread_mutex_lock(&ref_lock);
	n = ref_slot(pa.v)->count;
	if (n == 0)
		ref_delete(ref_slot(pa.v));
	pthread_mutex_unlock(&ref_lock);
	return n;
}

long ref_total(void)
{
	return __atomic_load_n(&ref_live, __ATOMIC_RELAXED);
}

uint64_t ref_gets(void)
{
	return ref_get_n;
}

uint64_t ref_puts(void)
{
	return ref_put_n;
}

bool ref_underflowed(void)
{
	return ref_under;
}

/* ---- flush hook */
uint64_t test_flush_calls, test_flushed_bytes, test_flush_all_count;

static void test_flush(struct pt_flush_batch *b)
{
	test_flush_calls++;
	if (b->flush_all)
		test_flush_all_count++;
	for (unsigned i = 0; i < b->range_count; i++)
		test_flushed_bytes += b->range[i].len;
}

const struct pt_flush_ops pt_test_flush_ops = { .flush = test_flush };

/* ---- environment */

void env_init(struct pt_env *e, const struct pt_test_fmt *tf, const struct pt_leaf_ops *ops)
{
	fake_arch_init();
	e->tf = tf;
	e->nodes_before = fake_pt_nodes_in_use();
	CHECK(pt_table_init(&e->t, tf->fmt, ops ? ops : &pt_test_leaf_ops) == 0);
	pt_flush_batch_init(&e->b, &pt_test_flush_ops, NULL);
}

bool env_fini(struct pt_env *e)
{
	pt_table_fini(&e->t, &e->b);
	pt_flush_batch_finish(&e->b);
	return fake_pt_nodes_in_use() == e->nodes_before;
}

vaddr_t env_va(const struct pt_env *e, uint64_t lin)
{
	const struct pt_format *f = e->tf->fmt;

	if (f->sign_extend && lin == (1ull << f->va_bits))
		return VA(0);
	if (f->sign_extend && (lin >> (f->va_bits - 1)) & 1)
		return VA(lin | ~((1ull << f->va_bits) - 1));
	return VA(lin);
}

int env_map(struct pt_env *e, uint64_t lin, uint64_t size, paddr_t pa, struct pt_prop prop)
{
	struct pt_cursor c;
	int err = pt_cursor_begin(&c, &e->t, env_va(e, lin), env_va(e, lin + size), &e->b);

	if (err)
		return err;
	err = pt_cursor_map(&c, pa, size, prop);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&e->b);
	return err;
}

int env_map_range(struct pt_env *e, uint64_t lin, uint64_t len, paddr_t pa, struct pt_prop prop)
{
	struct pt_cursor c;
	int err = pt_cursor_begin(&c, &e->t, env_va(e, lin), env_va(e, lin + len), &e->b);

	if (err)
		return err;
	err = pt_cursor_map_range(&c, len, pa, prop);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&e->b);
	return err;
}

int env_unmap(struct pt_env *e, uint64_t lin, uint64_t len)
{
	struct pt_cursor c;
	int err = pt_cursor_begin(&c, &e->t, env_va(e, lin), env_va(e, lin + len), &e->b);

	if (err)
		return err;
	err = pt_cursor_unmap(&c, len);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&e->b);
	return err;
}

int env_query(struct pt_env *e, uint64_t lin, struct pt_item *out)
{
	struct pt_cursor c;
	int err = pt_cursor_begin(&c, &e->t, env_va(e, lin), env_va(e, lin + PAGE_SIZE), &e->b);

	out->kind = PT_ITEM_NONE;
	if (err)
		return PT_ITEM_NONE;
	if (pt_cursor_query(&c, out))
		out->kind = PT_ITEM_NONE;
	pt_cursor_end(&c);
	pt_flush_batch_finish(&e->b);
	return out->kind;
}

uint64_t env_leaf_count(struct pt_env *e)
{
	struct pt_cursor c;
	struct pt_item it;
	uint64_t n = 0;

	CHECK(pt_cursor_begin(&c, &e->t, env_va(e, e->tf->space_lo), env_va(e, e->tf->space_hi),
			      &e->b) == 0);
	while (pt_cursor_find_next(&c, UINT64_MAX, &it) == 0) {
		n++;
		if (pt_cursor_jump(&c, VA(it.va.v + it.size)) != 0)
			break;
	}
	pt_cursor_end(&c);
	return n;
}
