/*
 * Host unit tests of the page-table cursor engine over the x86-64, EPT and fake
 * formats (the list follows Asterinas OSTD's page-table tests, plus the engine's own
 * promises: -EEXIST without partial change, -ENOMEM leaves the table as it was,
 * deferred freeing, reference counting).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <keel/errno.h>

#include "pt_test.h"

#define TF ((const struct pt_test_fmt *)arg)

static uint64_t lvl_size(const struct pt_format *f, unsigned l)
{
	return 1ull << f->shift[l];
}

/* A zero entry is absent at every level; a table entry round-trips its address. */
static void t_zero_entry_is_absent(const void *arg)
{
	const struct pt_format *f = TF->fmt;
	struct pt_entry e;

	for (unsigned l = 1; l <= f->levels; l++) {
		f->decode(0, l, &e);
		T_EQ(e.kind, PT_ENTRY_ABSENT);
		if (l == 1)
			continue;
		f->decode(f->encode_table(PA(0x123456000ull), l), l, &e);
		T_EQ(e.kind, PT_ENTRY_TABLE);
		T_EQ(e.pa.v, 0x123456000ull);
	}
}

/* Every expressible property survives encode/decode at every leaf level; others refused. */
static void t_prop_round_trip(const void *arg)
{
	const struct pt_format *f = TF->fmt;
	unsigned ok = 0, refused = 0;

	for (unsigned l = 1; l <= f->levels; l++) {
		uint64_t size = lvl_size(f, l);
		paddr_t pa = PA((1ull << f->pa_bits) - size);

		if (!pt_format_has_leaf(f, l))
			continue;
		for (unsigned fl = 0; fl <= PT_PROP_ALL; fl++) {
			for (unsigned ca = 0; ca < PT_CACHE_COUNT; ca++) {
				for (unsigned so = 0; so <= (1u << f->soft_bits); so++) {
					struct pt_prop p = { (uint16_t)fl, (uint8_t)ca,
							     (uint8_t)so };
					struct pt_entry e;
					uint64_t raw;

					if (f->encode_leaf(pa, p, l, &raw)) {
						refused++;
						continue;
					}
					ok++;
					T_ASSERT(raw != 0);
					if (l == 1 && f->leaf_pa_step && pa.v >= PAGE_SIZE) {
						uint64_t prev;

						T_EQ(f->encode_leaf(PA(pa.v - PAGE_SIZE), p, l,
								    &prev),
						     0);
						T_EQ(prev + f->leaf_pa_step, raw);
					}
					f->decode(raw, l, &e);
					T_EQ(e.kind, PT_ENTRY_LEAF);
					T_EQ(e.pa.v, pa.v);
					T_ASSERT(pt_prop_equal(e.prop, p));
				}
			}
		}
	}
	T_ASSERT(ok > 0 && refused > 0);
	{
		uint64_t raw;

		T_EQ(f->encode_leaf(PA(0), TF->refused, 1, &raw), -ENOTSUP);
		T_EQ(f->encode_leaf(PA(0), TF->rw, 1, &raw), 0);
	}
}

/* What each real format cannot express. */
static void t_format_refusals(const void *arg)
{
	uint64_t raw;
	struct pt_prop p;

	(void)arg;
	p = PT_PROP(PT_PROP_W);
	T_EQ(pt_format_x86_64.encode_leaf(PA(0), p, 1, &raw), -ENOTSUP); /* write-only */
	p = PT_PROP(PT_PROP_X);
	T_EQ(pt_format_x86_64.encode_leaf(PA(0), p, 1, &raw), -ENOTSUP); /* exec, no read */
	p = PT_PROP(PT_PROP_X);
	T_EQ(pt_format_ept.encode_leaf(PA(0), p, 1, &raw), 0); /* EPT execute-only is fine */
	p = PT_PROP(PT_PROP_R | PT_PROP_USER);
	T_EQ(pt_format_ept.encode_leaf(PA(0), p, 1, &raw), -ENOTSUP);
	p = PT_PROP(PT_PROP_R | PT_PROP_GLOBAL);
	T_EQ(pt_format_ept.encode_leaf(PA(0), p, 1, &raw), -ENOTSUP);
	p = PT_PROP(PT_PROP_W);
	T_EQ(pt_format_ept.encode_leaf(PA(0), p, 1, &raw), -ENOTSUP);
	p = PT_PROP(0);
	T_EQ(pt_format_ept.encode_leaf(PA(0), p, 1, &raw), -ENOTSUP);
	p = PT_PROP(PT_PROP_R);
	p.cache = PT_CACHE_UC_MINUS;
	T_EQ(pt_format_ept.encode_leaf(PA(0), p, 1, &raw), -ENOTSUP);
	T_EQ(pt_format_x86_64.encode_leaf(PA(0), p, 1, &raw), 0);
	p.soft = 8;
	T_EQ(pt_format_x86_64.encode_leaf(PA(0), p, 1, &raw), -ENOTSUP);
}

/* Hand-checked raw encodings (SDM tables) so a symmetric encode/decode bug shows. */
static void t_known_encodings(const void *arg)
{
	uint64_t raw;
	struct pt_prop p = PT_PROP(PT_PROP_RW | PT_PROP_USER);

	(void)arg;
	T_EQ(pt_format_x86_64.encode_leaf(PA(0x5000), p, 1, &raw), 0);
	T_EQ(raw, 0x8000000000005007ull); /* P|RW|US, XD */
	p = PT_PROP(PT_PROP_RWX | PT_PROP_GLOBAL);
	p.cache = PT_CACHE_WC; /* PAT index 4: PAT bit only */
	T_EQ(pt_format_x86_64.encode_leaf(PA(0x200000), p, 2, &raw), 0);
	T_EQ(raw, 0x200000ull | 0x1000 | 0x100 | 0x80 | 0x3);
	T_EQ(pt_format_x86_64.encode_table(PA(0x9000), 4), 0x9007ull);
	p = PT_PROP(PT_PROP_RWX);
	T_EQ(pt_format_ept.encode_leaf(PA(0x40000000), p, 3, &raw), 0);
	T_EQ(raw, 0x40000000ull | 0x80 | (6u << 3) | 7); /* PS, WB, RWX */
	T_EQ(pt_format_ept.encode_table(PA(0x9000), 2), 0x9007ull);
}

/* Empty, unaligned, reversed, non-canonical and out-of-space ranges are -EINVAL. */
static void t_range_checks(const void *arg)
{
	struct pt_env e;
	struct pt_cursor c;
	const struct pt_format *f = TF->fmt;
	uint64_t lo = TF->space_lo, hi = TF->space_hi;

	env_init(&e, TF, NULL);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, lo), env_va(&e, lo), &e.b), -EINVAL);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, lo + 1), env_va(&e, lo + 8192), &e.b), -EINVAL);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, lo), env_va(&e, lo + 4097), &e.b), -EINVAL);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, lo + 8192), env_va(&e, lo + 4096), &e.b),
	     -EINVAL);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, hi - 4096), VA(env_va(&e, hi - 4096).v + 8192),
			     &e.b),
	     -EINVAL);
	if (lo > 0)
		T_EQ(pt_cursor_begin(&c, &e.t, VA(lo - 4096), VA(lo + 4096), &e.b), -EINVAL);
	if (f->sign_extend) {
		T_EQ(pt_cursor_begin(&c, &e.t, VA(1ull << 47), VA((1ull << 47) + 4096), &e.b),
		     -EINVAL); /* non-canonical */
		T_EQ(pt_cursor_begin(&c, &e.t, VA(0x7ffffffff000ull), VA(0xffff800000001000ull),
				     &e.b),
		     -EINVAL); /* crosses the hole */
		T_EQ(pt_cursor_begin(&c, &e.t, VA(0), VA(0), &e.b), -EINVAL);
	} else {
		T_EQ(pt_cursor_begin(&c, &e.t, VA(1ull << f->va_bits),
				     VA((1ull << f->va_bits) + 4096), &e.b),
		     -EINVAL);
	}
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, lo), env_va(&e, hi), &e.b), 0);
	pt_cursor_end(&c);
	T_ASSERT(env_fini(&e));
}

/* The first and the last page of the usable space can be mapped, found and removed. */
static void t_first_and_last_page(const void *arg)
{
	struct pt_env e;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t lo = TF->space_lo, last = TF->space_hi - PAGE_SIZE;

	env_init(&e, TF, NULL);
	T_EQ(env_map(&e, lo, PAGE_SIZE, T_PA(0x1000), TF->rw), 0);
	T_EQ(env_map(&e, last, PAGE_SIZE, T_PA(0x2000), TF->rw), 0);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, lo), env_va(&e, TF->space_hi), &e.b), 0);
	T_EQ(pt_cursor_find_next(&c, UINT64_MAX, &it), 0);
	T_EQ(it.va.v, env_va(&e, lo).v);
	T_EQ(it.pa.v, T_PA(0x1000).v);
	T_EQ(pt_cursor_jump(&c, env_va(&e, lo + PAGE_SIZE)), 0);
	T_EQ(pt_cursor_find_next(&c, UINT64_MAX, &it), 0);
	T_EQ(it.va.v, env_va(&e, last).v);
	T_EQ(it.size, PAGE_SIZE);
	T_ASSERT(pt_prop_equal(it.prop, TF->rw));
	T_EQ(pt_cursor_unmap(&c, UINT64_MAX), 0);
	T_EQ(pt_cursor_va(&c).v, env_va(&e, TF->space_hi).v);
	T_EQ(pt_cursor_jump(&c, env_va(&e, lo)), 0);
	T_EQ(pt_cursor_unmap(&c, PAGE_SIZE), 0);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&e.b);
	T_EQ(ref_total(), 0);
	T_EQ(env_leaf_count(&e), 0);
	T_ASSERT(env_fini(&e));
}

/* Mapping over anything mapped is -EEXIST and changes nothing. */
static void t_double_map_refused(const void *arg)
{
	struct pt_env e;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t H = TF->space_lo + 4 * TF->huge;

	env_init(&e, TF, NULL);
	T_EQ(env_map(&e, H + PAGE_SIZE, PAGE_SIZE, T_PA(0x1000), TF->rw), 0);
	T_EQ(env_map(&e, H + PAGE_SIZE, PAGE_SIZE, T_PA(0x5000), TF->rw), -EEXIST);
	T_EQ(env_map(&e, H, TF->huge, T_PA(0), TF->rw), -EEXIST);
	T_EQ(env_map(&e, H + TF->huge, TF->huge, T_PA(TF->huge), TF->rw), 0);
	T_EQ(env_map(&e, H + TF->huge + 8192, PAGE_SIZE, T_PA(0x1000), TF->rw), -EEXIST);
	T_EQ(env_map(&e, H + TF->huge, TF->huge, T_PA(0), TF->rw), -EEXIST);
	/* map_range overlapping the end of the 4K page: refused before any change */
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, H - 4 * PAGE_SIZE), env_va(&e, H + 2 * PAGE_SIZE),
			     &e.b),
	     0);
	T_EQ(pt_cursor_map_range(&c, 6 * PAGE_SIZE, T_PA(0x100000), TF->rw), -EEXIST);
	T_EQ(pt_cursor_va(&c).v, env_va(&e, H - 4 * PAGE_SIZE).v);
	T_EQ(pt_cursor_query(&c, &it), 0);
	T_EQ(it.kind, PT_ITEM_NONE);
	pt_cursor_end(&c);
	T_EQ(env_query(&e, H + PAGE_SIZE, &it), PT_ITEM_LEAF);
	T_EQ(it.pa.v, T_PA(0x1000).v);
	T_EQ(env_leaf_count(&e), 2);
	T_EQ(ref_total(), 2);
	T_ASSERT(env_fini(&e));
	T_EQ(ref_total(), 0);
}

/* Huge leaves need aligned va and pa, a leaf size of the format and room in the range. */
static void t_unaligned_huge_refused(const void *arg)
{
	struct pt_env e;
	struct pt_cursor c;
	uint64_t H = TF->space_lo + 2 * TF->huge;

	env_init(&e, TF, NULL);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, H), env_va(&e, H + 4 * TF->huge), &e.b), 0);
	T_EQ(pt_cursor_jump(&c, env_va(&e, H + PAGE_SIZE)), 0);
	T_EQ(pt_cursor_map(&c, T_PA(0), TF->huge, TF->rw), -EINVAL); /* va unaligned */
	T_EQ(pt_cursor_jump(&c, env_va(&e, H)), 0);
	T_EQ(pt_cursor_map(&c, T_PA(PAGE_SIZE), TF->huge, TF->rw), -EINVAL); /* pa unaligned */
	T_EQ(pt_cursor_map(&c, T_PA(0), 2 * PAGE_SIZE, TF->rw), -EINVAL);    /* no such leaf */
	T_EQ(pt_cursor_map(&c, T_PA(0), TF->huge * 4, TF->rw), -EINVAL);     /* beyond the range */
	T_EQ(pt_cursor_map(&c, T_PA(0), PAGE_SIZE, TF->refused), -ENOTSUP);
	T_EQ(pt_cursor_map_range(&c, 2 * PAGE_SIZE, PA((1ull << TF->fmt->pa_bits) - PAGE_SIZE),
				 TF->rw),
	     -EINVAL); /* pa runs past the format's width */
	T_EQ(pt_cursor_map_range(&c, 2 * PAGE_SIZE, T_PA(0), TF->refused), -ENOTSUP);
	T_EQ(pt_cursor_va(&c).v, env_va(&e, H).v);
	pt_cursor_end(&c);
	T_EQ(env_leaf_count(&e), 0);
	T_ASSERT(env_fini(&e));
}

/* Jumping into a huge leaf and querying reports the whole leaf. */
static void t_query_inside_huge(const void *arg)
{
	struct pt_env e;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t H = TF->space_lo + 3 * TF->huge;

	env_init(&e, TF, NULL);
	T_EQ(env_map(&e, H, TF->huge, T_PA(TF->huge * 5), TF->rw), 0);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, H), env_va(&e, H + TF->huge), &e.b), 0);
	T_EQ(pt_cursor_jump(&c, env_va(&e, H + TF->huge / 2 + PAGE_SIZE)), 0);
	T_EQ(pt_cursor_query(&c, &it), 0);
	T_EQ(it.kind, PT_ITEM_LEAF);
	T_EQ(it.va.v, env_va(&e, H).v);
	T_EQ(it.size, TF->huge);
	T_EQ(it.pa.v, T_PA(TF->huge * 5).v);
	T_EQ(pt_cursor_va(&c).v, env_va(&e, H + TF->huge / 2 + PAGE_SIZE).v);
	pt_cursor_end(&c);
	T_ASSERT(env_fini(&e));
}

/* Jumps near the top: the last page works, the end and beyond are refused. */
static void t_jump_near_top(const void *arg)
{
	struct pt_env e;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t hi = TF->space_hi;

	env_init(&e, TF, NULL);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, hi - 3 * PAGE_SIZE), env_va(&e, hi), &e.b), 0);
	T_EQ(pt_cursor_jump(&c, env_va(&e, hi - PAGE_SIZE)), 0);
	T_EQ(pt_cursor_query(&c, &it), 0);
	T_EQ(it.kind, PT_ITEM_NONE);
	T_EQ(pt_cursor_map(&c, T_PA(0x7000), PAGE_SIZE, TF->rw), 0);
	T_EQ(pt_cursor_va(&c).v, env_va(&e, hi).v);
	T_EQ(pt_cursor_query(&c, &it), -ENOENT);
	T_EQ(pt_cursor_jump(&c, env_va(&e, hi)), -EINVAL);
	T_EQ(pt_cursor_jump(&c, env_va(&e, hi - 4 * PAGE_SIZE)), -EINVAL);
	T_EQ(pt_cursor_jump(&c, VA(env_va(&e, hi - PAGE_SIZE).v + 1)), -EINVAL);
	T_EQ(pt_cursor_jump(&c, env_va(&e, hi - PAGE_SIZE)), 0);
	T_EQ(pt_cursor_query(&c, &it), 0);
	T_EQ(it.kind, PT_ITEM_LEAF);
	T_EQ(it.va.v, env_va(&e, hi - PAGE_SIZE).v);
	pt_cursor_end(&c);
	T_ASSERT(env_fini(&e));
}

/* find_next crosses node boundaries and stops at the window. */
static void t_find_next_across_boundaries(const void *arg)
{
	const struct pt_format *f = TF->fmt;
	struct pt_env e;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t span1 = lvl_size(f, 1) << f->index_bits[1];
	uint64_t B = TF->space_lo + 2 * TF->huge;
	uint64_t at[3] = { B - PAGE_SIZE, B + span1, B + 2 * TF->huge + span1 };

	env_init(&e, TF, NULL);
	for (int i = 0; i < 3; i++)
		T_EQ(env_map(&e, at[i], PAGE_SIZE, T_PA(0x1000 * (i + 1)), TF->rw), 0);
	T_EQ(
	    pt_cursor_begin(&c, &e.t, env_va(&e, TF->space_lo), env_va(&e, B + 4 * TF->huge), &e.b),
	    0);
	for (int i = 0; i < 3; i++) {
		T_EQ(pt_cursor_find_next(&c, UINT64_MAX, &it), 0);
		T_EQ(it.va.v, env_va(&e, at[i]).v);
		T_EQ(it.pa.v, T_PA(0x1000 * (i + 1)).v);
		T_EQ(pt_cursor_jump(&c, env_va(&e, at[i] + PAGE_SIZE)), 0);
	}
	T_EQ(pt_cursor_find_next(&c, UINT64_MAX, &it), -ENOENT);
	T_EQ(pt_cursor_jump(&c, env_va(&e, B)), 0);
	T_EQ(pt_cursor_find_next(&c, span1, &it), -ENOENT); /* at[1] is just past the window */
	T_EQ(pt_cursor_va(&c).v, env_va(&e, B + span1).v);
	T_EQ(pt_cursor_find_next(&c, PAGE_SIZE, &it), 0);
	pt_cursor_end(&c);
	T_ASSERT(env_fini(&e));
}

/* take_next of a window covering a whole node detaches it as one subtree. */
static void t_take_next_subtree(const void *arg)
{
	const struct pt_format *f = TF->fmt;
	struct pt_env e;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t n1 = 1ull << f->index_bits[1], span1 = n1 * PAGE_SIZE;
	uint64_t B = TF->space_lo + TF->huge, nodes, flushed;

	env_init(&e, TF, NULL);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, B), env_va(&e, B + span1), &e.b), 0);
	T_EQ(pt_cursor_map_range(&c, span1, T_PA(PAGE_SIZE), TF->rw), 0); /* all 4K leaves */
	pt_cursor_end(&c);
	T_EQ(ref_total(), (long)n1);
	nodes = fake_pt_nodes_in_use();
	flushed = test_flushed_bytes;
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, B - span1), env_va(&e, B + 2 * span1), &e.b), 0);
	T_EQ(pt_cursor_take_next(&c, UINT64_MAX, &it), 0);
	T_EQ(it.kind, PT_ITEM_SUBTREE);
	T_EQ(it.va.v, env_va(&e, B).v);
	T_EQ(it.size, span1);
	T_EQ(it.leaf_count, n1);
	T_EQ(pt_cursor_take_next(&c, UINT64_MAX, &it), -ENOENT);
	pt_cursor_end(&c);
	T_EQ(fake_pt_nodes_in_use(), nodes); /* deferred: not freed before the batch ends */
	T_EQ(e.b.node_count, 1u);
	pt_flush_batch_finish(&e.b);
	T_ASSERT(test_flushed_bytes - flushed >= span1 || test_flush_all_count > 0);
	T_EQ(fake_pt_nodes_in_use(), nodes - 1);
	T_EQ(ref_total(), 0);
	T_ASSERT(!ref_underflowed());
	/* same cursor maps then takes: take_next climbs back to the node's parent entry */
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, B), env_va(&e, B + span1), &e.b), 0);
	T_EQ(pt_cursor_map_range(&c, 8 * PAGE_SIZE, T_PA(PAGE_SIZE), TF->rw), 0);
	T_EQ(pt_cursor_jump(&c, env_va(&e, B)), 0);
	T_EQ(pt_cursor_take_next(&c, span1, &it), 0);
	T_EQ(it.kind, PT_ITEM_SUBTREE);
	T_EQ(it.leaf_count, 8u);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&e.b);
	T_ASSERT(env_fini(&e));
}

/* Unmapping one page of a huge leaf splits it; the rest stays mapped to the same memory. */
static void t_unmap_inside_huge_splits(const void *arg)
{
	struct pt_env e;
	struct pt_item it;
	uint64_t H = TF->space_lo + 2 * TF->huge, P = TF->huge * 7;

	env_init(&e, TF, NULL);
	T_EQ(env_map(&e, H, TF->huge, T_PA(P), TF->rw), 0);
	T_EQ(env_map(&e, H + TF->huge, TF->huge, T_PA(P + TF->huge), TF->rw), 0);
	T_EQ(env_unmap(&e, H + PAGE_SIZE, PAGE_SIZE), 0);
	T_EQ(env_query(&e, H, &it), PT_ITEM_LEAF);
	T_EQ(it.size, PAGE_SIZE);
	T_EQ(it.pa.v, T_PA(P).v);
	T_EQ(env_query(&e, H + PAGE_SIZE, &it), PT_ITEM_NONE);
	T_EQ(env_query(&e, H + TF->huge - PAGE_SIZE, &it), PT_ITEM_LEAF);
	T_EQ(it.pa.v, T_PA(P + TF->huge - PAGE_SIZE).v);
	T_EQ(env_query(&e, H + TF->huge, &it), PT_ITEM_LEAF);
	T_EQ(it.size, TF->huge);			 /* the neighbour is untouched */
	T_EQ(ref_total(), (long)(TF->huge / PAGE_SIZE)); /* huge-1 small + 1 huge */
	/* unmap across the boundary: the rest of the split one plus half of the next */
	T_EQ(env_unmap(&e, H, TF->huge + TF->huge / 2), 0);
	T_EQ(env_query(&e, H + TF->huge + TF->huge / 2, &it), PT_ITEM_LEAF);
	T_EQ(it.pa.v, T_PA(P + TF->huge + TF->huge / 2).v);
	T_EQ(env_query(&e, H + TF->huge + TF->huge / 2 - PAGE_SIZE, &it), PT_ITEM_NONE);
	T_EQ(ref_total(), (long)(TF->huge / 2 / PAGE_SIZE));
	T_ASSERT(env_fini(&e));
	T_EQ(ref_total(), 0);
	T_ASSERT(!ref_underflowed());
}

static void clear_w(struct pt_prop *p, void *arg)
{
	(void)arg;
	p->flags &= (uint16_t)~PT_PROP_W;
}

static void set_w(struct pt_prop *p, void *arg)
{
	(void)arg;
	p->flags |= PT_PROP_W | PT_PROP_R;
}

/* Protecting part of a huge leaf splits it; queries see old and new properties. */
static void t_protect_query_split(const void *arg)
{
	struct pt_env e;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t H = TF->space_lo + TF->huge, mid = H + TF->huge / 2;

	env_init(&e, TF, NULL);
	T_EQ(env_map(&e, H, TF->huge, T_PA(0), TF->rw), 0);
	T_EQ(env_map(&e, H - PAGE_SIZE, PAGE_SIZE, T_PA(0x3000), TF->rw), 0);
	T_EQ(
	    pt_cursor_begin(&c, &e.t, env_va(&e, H - PAGE_SIZE), env_va(&e, mid + PAGE_SIZE), &e.b),
	    0);
	T_EQ(pt_cursor_jump(&c, env_va(&e, mid)), 0);
	T_EQ(pt_cursor_protect_next(&c, PAGE_SIZE, clear_w, NULL, &it), 0);
	T_EQ(it.va.v, env_va(&e, mid).v);
	T_EQ(it.size, PAGE_SIZE);
	T_ASSERT(!(it.prop.flags & PT_PROP_W));
	T_EQ(pt_cursor_protect_next(&c, PAGE_SIZE, clear_w, NULL, &it), -ENOENT);
	T_EQ(pt_cursor_jump(&c, env_va(&e, H - PAGE_SIZE)), 0);
	T_EQ(pt_cursor_protect(&c, PAGE_SIZE, clear_w, NULL), 0);
	pt_cursor_end(&c);
	T_ASSERT(e.b.range_count >= 1);
	pt_flush_batch_finish(&e.b);
	T_EQ(env_query(&e, mid, &it), PT_ITEM_LEAF);
	T_ASSERT(!(it.prop.flags & PT_PROP_W) && it.pa.v == T_PA(TF->huge / 2).v);
	T_EQ(env_query(&e, mid - PAGE_SIZE, &it), PT_ITEM_LEAF);
	T_ASSERT(it.prop.flags & PT_PROP_W);
	T_EQ(env_query(&e, mid + PAGE_SIZE, &it), PT_ITEM_LEAF);
	T_ASSERT(pt_prop_equal(it.prop, TF->rw));
	T_EQ(env_query(&e, H - PAGE_SIZE, &it), PT_ITEM_LEAF);
	T_ASSERT(!(it.prop.flags & PT_PROP_W));
	/* a refused result leaves the leaf unchanged */
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, mid), env_va(&e, mid + PAGE_SIZE), &e.b), 0);
	T_EQ(pt_cursor_protect(&c, PAGE_SIZE, set_w, NULL), 0);
	pt_cursor_end(&c);
	T_EQ(env_query(&e, mid, &it), PT_ITEM_LEAF);
	T_ASSERT(it.prop.flags & PT_PROP_W);
	T_ASSERT(env_fini(&e));
}

/* Protect over nothing succeeds and changes nothing. */
static void t_protect_empty_range(const void *arg)
{
	struct pt_env e;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t B = TF->space_lo;

	env_init(&e, TF, NULL);
	T_EQ(pt_cursor_begin(&c, &e.t, env_va(&e, B), env_va(&e, B + 4 * TF->huge), &e.b), 0);
	T_EQ(pt_cursor_protect(&c, UINT64_MAX, clear_w, NULL), 0);
	T_EQ(pt_cursor_va(&c).v, env_va(&e, B + 4 * TF->huge).v);
	T_EQ(pt_cursor_jump(&c, env_va(&e, B)), 0);
	T_EQ(pt_cursor_protect_next(&c, UINT64_MAX, clear_w, NULL, &it), -ENOENT);
	pt_cursor_end(&c);
	T_ASSERT(pt_flush_batch_is_empty(&e.b));
	T_EQ(env_leaf_count(&e), 0);
	T_ASSERT(env_fini(&e));
}

/* copy_from shares every leaf (references raised) and write-protects both sides. */
static void t_copy_from(const void *arg)
{
	struct pt_env s, d;
	struct pt_cursor cs, cd;
	struct pt_item it;
	uint64_t B = TF->space_lo + TF->huge, D = TF->space_lo + 4 * TF->huge;
	uint64_t len = 2 * TF->huge;

	env_init(&s, TF, NULL);
	env_init(&d, TF, NULL);
	T_EQ(env_map(&s, B, TF->huge, T_PA(0), TF->rw), 0);
	T_EQ(env_map(&s, B + TF->huge + PAGE_SIZE, PAGE_SIZE, T_PA(0x9000), TF->rw), 0);
	T_EQ(pt_cursor_begin(&cs, &s.t, env_va(&s, B), env_va(&s, B + len), &s.b), 0);
	T_EQ(pt_cursor_begin(&cd, &d.t, env_va(&d, D), env_va(&d, D + len), &d.b), 0);
	T_EQ(pt_cursor_copy_from(&cd, &cs, len, PT_COPY_WRITE_PROTECT), 0);
	T_EQ(pt_cursor_va(&cd).v, env_va(&d, D + len).v);
	pt_cursor_end(&cd);
	pt_cursor_end(&cs);
	pt_flush_batch_finish(&s.b);
	pt_flush_batch_finish(&d.b);
	T_EQ(ref_count(T_PA(0)), 2);
	T_EQ(ref_count(T_PA(0x9000)), 2);
	T_EQ(env_query(&d, D, &it), PT_ITEM_LEAF);
	T_ASSERT(it.size == TF->huge && it.pa.v == T_PA(0).v && !(it.prop.flags & PT_PROP_W));
	T_EQ(env_query(&d, D + TF->huge + PAGE_SIZE, &it), PT_ITEM_LEAF);
	T_ASSERT(it.pa.v == T_PA(0x9000).v && !(it.prop.flags & PT_PROP_W));
	T_EQ(env_query(&s, B + TF->huge + PAGE_SIZE, &it), PT_ITEM_LEAF);
	T_ASSERT(!(it.prop.flags & PT_PROP_W));
	T_EQ(env_leaf_count(&d), 2);
	/* into a non-empty destination: -EEXIST, nothing changes */
	T_EQ(pt_cursor_begin(&cs, &s.t, env_va(&s, B), env_va(&s, B + len), &s.b), 0);
	T_EQ(pt_cursor_begin(&cd, &d.t, env_va(&d, D), env_va(&d, D + len), &d.b), 0);
	T_EQ(pt_cursor_copy_from(&cd, &cs, len, 0), -EEXIST);
	pt_cursor_end(&cd);
	pt_cursor_end(&cs);
	T_EQ(ref_count(T_PA(0)), 2);
	env_fini(&d);
	T_EQ(ref_count(T_PA(0)), 1);
	env_fini(&s);
	T_EQ(ref_total(), 0);
}

/* Snapshot of all leaves, to compare tables before and after a failed operation. */
struct snap {
	uint64_t n;
	struct pt_item it[64];
};

static void take_snap(struct pt_env *e, struct snap *s)
{
	struct pt_cursor c;
	struct pt_item it;

	s->n = 0;
	CHECK(pt_cursor_begin(&c, &e->t, env_va(e, e->tf->space_lo), env_va(e, e->tf->space_hi),
			      &e->b) == 0);
	while (pt_cursor_find_next(&c, UINT64_MAX, &it) == 0 && s->n < 64) {
		s->it[s->n++] = it;
		if (pt_cursor_jump(&c, VA(it.va.v + it.size)))
			break;
	}
	pt_cursor_end(&c);
}

static bool snap_equal(const struct snap *a, const struct snap *b)
{
	if (a->n != b->n)
		return false;
	for (uint64_t i = 0; i < a->n; i++) {
		if (a->it[i].va.v != b->it[i].va.v || a->it[i].size != b->it[i].size ||
		    a->it[i].pa.v != b->it[i].pa.v || !pt_prop_equal(a->it[i].prop, b->it[i].prop))
			return false;
	}
	return true;
}

enum { OP_MAP_4K, OP_MAP_HUGE, OP_MAP_RANGE, OP_UNMAP_SPLIT, OP_PROTECT_SPLIT, OP_COPY };

/* Runs op k on a cursor of e (and of d for copies). */
static int enomem_op(int op, struct pt_env *e, struct pt_env *d, uint64_t B, long k)
{
	const struct pt_test_fmt *tf = e->tf;
	struct pt_cursor c, cd;
	int err;

	CHECK(pt_cursor_begin(&c, &e->t, env_va(e, B), env_va(e, B + 8 * tf->huge), &e->b) == 0);
	if (op == OP_COPY)
		CHECK(pt_cursor_begin(&cd, &d->t, env_va(d, B), env_va(d, B + 4 * tf->huge),
				      &d->b) == 0);
	fake_fail_after(k); /* after begin: its lock-free descent may allocate */
	switch (op) {
	case OP_MAP_4K:
		CHECK(pt_cursor_jump(&c, env_va(e, B + 3 * tf->huge + PAGE_SIZE)) == 0);
		err = pt_cursor_map(&c, T_PA(0x4000), PAGE_SIZE, tf->rw);
		break;
	case OP_MAP_HUGE:
		CHECK(pt_cursor_jump(&c, env_va(e, B + 3 * tf->huge)) == 0);
		err = pt_cursor_map(&c, T_PA(0), tf->huge, tf->rw);
		break;
	case OP_MAP_RANGE:
		CHECK(pt_cursor_jump(&c, env_va(e, B + 2 * tf->huge + 4 * PAGE_SIZE)) == 0);
		/* unaligned: 4K leaves over three level-1 nodes */
		err = pt_cursor_map_range(
		    &c, 2 * (PAGE_SIZE << tf->fmt->index_bits[1]) + 4 * PAGE_SIZE, T_PA(0), tf->rw);
		break;
	case OP_UNMAP_SPLIT:
		CHECK(pt_cursor_jump(&c, env_va(e, B + PAGE_SIZE)) == 0);
		err = pt_cursor_unmap(&c, PAGE_SIZE);
		break;
	case OP_PROTECT_SPLIT:
		CHECK(pt_cursor_jump(&c, env_va(e, B + PAGE_SIZE)) == 0);
		err = pt_cursor_protect(&c, PAGE_SIZE, clear_w, NULL);
		break;
	default:
		err = pt_cursor_copy_from(&cd, &c, 4 * tf->huge, PT_COPY_WRITE_PROTECT);
		break;
	}
	fake_fail_off();
	if (op == OP_COPY)
		pt_cursor_end(&cd);
	pt_cursor_end(&c);
	return err;
}

/* Every allocation failure point of every editing operation leaves the mappings as before. */
static void t_enomem_leaves_table_unchanged(const void *arg)
{
	for (int op = OP_MAP_4K; op <= OP_COPY; op++) {
		struct pt_env e, d;
		struct snap before, after, dbefore, dafter;
		uint64_t B = TF->space_lo + TF->huge;
		int err = -ENOMEM, k;

		env_init(&e, TF, NULL);
		env_init(&d, TF, NULL);
		T_EQ(env_map(&e, B, TF->huge, T_PA(0), TF->rw), 0);
		T_EQ(env_map(&e, B + TF->huge + PAGE_SIZE, PAGE_SIZE, T_PA(0x1000), TF->rw), 0);
		for (k = 0; err == -ENOMEM; k++) {
			uint64_t frames;
			long refs;

			take_snap(&e, &before);
			take_snap(&d, &dbefore);
			frames = fake_frames_in_use();
			refs = ref_total();
			err = enomem_op(op, &e, &d, B, k);
			if (err != -ENOMEM)
				break;
			take_snap(&e, &after);
			take_snap(&d, &dafter);
			T_ASSERT(snap_equal(&before, &after));
			T_ASSERT(snap_equal(&dbefore, &dafter));
			if (op != OP_MAP_RANGE && op != OP_COPY)
				T_EQ(fake_frames_in_use(), frames); /* allocate-then-commit */
			pt_flush_batch_finish(&e.b);
			pt_flush_batch_finish(&d.b);
			T_EQ(ref_total(), refs);
		}
		T_EQ(err, 0);
		T_ASSERT(k > 0 || op == OP_MAP_HUGE); /* the huge map needs no new node */
		env_fini(&d);
		env_fini(&e);
		T_EQ(ref_total(), 0);
		T_ASSERT(!ref_underflowed());
	}
}

/* copy_from with write-protect over half of a huge source leaf: any -ENOMEM leaves dst empty. */
static void t_copy_from_enomem_straddling(const void *arg)
{
	struct pt_env s, d;
	uint64_t B = TF->space_lo + 2 * TF->huge, W = B + TF->huge / 2;
	struct pt_item it;
	int err = -ENOMEM;

	env_init(&s, TF, NULL);
	env_init(&d, TF, NULL);
	T_EQ(env_map(&s, B, TF->huge, T_PA(0), TF->rw), 0);
	/* every early failure point, then a sample (the fake format's split needs 513 nodes) */
	for (long k = 0; err == -ENOMEM; k += k < 8 ? 1 : 61) {
		struct pt_cursor cs, cd;

		T_EQ(pt_cursor_begin(&cs, &s.t, env_va(&s, W), env_va(&s, W + TF->huge), &s.b), 0);
		T_EQ(pt_cursor_begin(&cd, &d.t, env_va(&d, B), env_va(&d, B + TF->huge), &d.b), 0);
		fake_fail_after(k);
		err = pt_cursor_copy_from(&cd, &cs, TF->huge, PT_COPY_WRITE_PROTECT);
		fake_fail_off();
		if (err == -ENOMEM)
			T_EQ(pt_cursor_va(&cd).v, env_va(&d, B).v);
		pt_cursor_end(&cd);
		pt_cursor_end(&cs);
		pt_flush_batch_finish(&s.b);
		pt_flush_batch_finish(&d.b);
		if (err == -ENOMEM)
			T_EQ(env_leaf_count(&d), 0);
	}
	T_EQ(err, 0);
	T_EQ(env_query(&d, B, &it), PT_ITEM_LEAF);
	T_ASSERT(it.pa.v == T_PA(TF->huge / 2).v && !(it.prop.flags & PT_PROP_W));
	T_EQ(env_query(&d, B + TF->huge / 2, &it), PT_ITEM_NONE);
	T_EQ(env_query(&s, B, &it), PT_ITEM_LEAF);
	T_ASSERT(it.prop.flags & PT_PROP_W); /* outside the window: still writable */
	T_EQ(env_query(&s, W, &it), PT_ITEM_LEAF);
	T_ASSERT(!(it.prop.flags & PT_PROP_W));
	env_fini(&d);
	env_fini(&s);
	T_EQ(ref_total(), 0);
	T_ASSERT(!ref_underflowed());
}

/* A table with an empty node where a huge leaf goes: the node is replaced and freed. */
static void t_map_over_emptied_table(const void *arg)
{
	struct pt_env e;
	struct pt_item it;
	uint64_t H = TF->space_lo + TF->huge;

	env_init(&e, TF, NULL);
	T_EQ(env_map(&e, H, PAGE_SIZE, T_PA(0x1000), TF->rw), 0);
	T_EQ(env_unmap(&e, H, PAGE_SIZE), 0);
	T_EQ(env_map(&e, H, TF->huge, T_PA(0), TF->rw), 0);
	T_EQ(env_query(&e, H + PAGE_SIZE, &it), PT_ITEM_LEAF);
	T_EQ(it.size, TF->huge);
	T_ASSERT(env_fini(&e));
}

/*
 * map_range fills a new level-1 node whole before publishing it, from frame_alloc_raw
 * (poisoned with 0xa5 here): every page of whole and partial nodes reads back as its
 * own 4 KiB leaf, each with one reference, and the unmap takes them all.
 */
static void t_map_range_whole_nodes(const void *arg)
{
	uint64_t span = PAGE_SIZE << TF->fmt->index_bits[1], B = TF->space_lo + TF->huge;
	uint64_t len = 3 * span + 3 * PAGE_SIZE, lo = B + span - PAGE_SIZE;
	struct pt_env e;
	bool ok = true;

	env_init(&e, TF, NULL);
	T_EQ(env_map_range(&e, lo, len, T_PA(PAGE_SIZE), TF->rw), 0);
	for (uint64_t off = 0; off < len; off += PAGE_SIZE) {
		struct pt_item it;

		ok &= env_query(&e, lo + off, &it) == PT_ITEM_LEAF && it.size == PAGE_SIZE &&
		      it.pa.v == T_PA(PAGE_SIZE).v + off && pt_prop_equal(it.prop, TF->rw);
	}
	T_ASSERT(ok);
	T_EQ(env_leaf_count(&e), len / PAGE_SIZE);
	T_EQ(ref_total(), (long)(len / PAGE_SIZE));
	T_EQ(env_unmap(&e, lo, len), 0);
	T_EQ(ref_total(), 0);
	T_ASSERT(env_fini(&e));
}

/*
 * A table with keep_root_entries (the kernel table, whose upper-half root entries every
 * host space copies): unmapping a whole root entry's span empties the node below it but
 * never clears the root entry; without the flag the node is detached.
 */
static void t_keep_root_entries(const void *arg)
{
	const struct pt_format *f = TF->fmt;
	uint64_t rspan = pt_format_level_size(f, f->levels);
	uint64_t base = ALIGN_UP(TF->space_lo, rspan);
	unsigned idx =
	    (unsigned)((base >> f->shift[f->levels]) & ((1u << f->index_bits[f->levels]) - 1));
	struct pt_env e;
	uint64_t raw;

	if (base + rspan > TF->space_hi || base + rspan < base)
		return; /* no whole root entry inside the usable space */
	for (int keep = 0; keep < 2; keep++) {
		env_init(&e, TF, NULL);
		e.t.keep_root_entries = keep;
		T_EQ(env_map(&e, base + PAGE_SIZE, PAGE_SIZE, T_PA(0), TF->rw), 0);
		T_EQ(env_map(&e, base + rspan - PAGE_SIZE, PAGE_SIZE, T_PA(0), TF->rw), 0);
		raw = ((uint64_t *)frame_kva(e.t.root))[idx];
		T_ASSERT(raw != 0);
		T_EQ(env_unmap(&e, base, rspan), 0);
		T_EQ(env_leaf_count(&e), 0u);
		T_EQ(((uint64_t *)frame_kva(e.t.root))[idx], keep ? raw : 0);
		/* the kept node is used again */
		T_EQ(env_map(&e, base, PAGE_SIZE, T_PA(0), TF->rw), 0);
		T_EQ(((uint64_t *)frame_kva(e.t.root))[idx] != 0, true);
		if (keep)
			T_EQ(((uint64_t *)frame_kva(e.t.root))[idx], raw);
		T_ASSERT(env_fini(&e));
	}
}

/* With the default frame ops, leaves hold real frame references until the flush. */
static void t_frame_refcounts(const void *arg)
{
	struct pt_env e;
	struct frame *f, *g;

	env_init(&e, TF, &pt_leaf_ops_frame);
	f = frame_alloc(0, FRAME_USER);
	g = frame_alloc(9, FRAME_USER);
	T_ASSERT(f && g);
	T_EQ(env_map(&e, TF->space_lo, PAGE_SIZE, frame_pa(f), TF->rw), 0);
	T_EQ(env_map(&e, TF->space_lo + PAGE_SIZE, PAGE_SIZE, frame_pa(f), TF->rw), 0);
	T_EQ(f->refcount, 3u);
	if (TF->huge == SIZE_2M) {
		T_EQ(env_map(&e, TF->space_lo + SIZE_2M, SIZE_2M, frame_pa(g), TF->rw), 0);
		T_EQ(g->refcount, 2u);
	}
	T_EQ(env_unmap(&e, TF->space_lo, PAGE_SIZE), 0);
	T_EQ(f->refcount, 2u);
	T_ASSERT(env_fini(&e));
	T_EQ(f->refcount, 1u);
	T_EQ(g->refcount, 1u);
	frame_free(f, 0);
	frame_free(g, 9);
}

/*
 * A huge leaf over an order-9 block, split by unmapping pages inside it: every small
 * leaf holds its reference on the block's head (not on the tail frame it maps), and the
 * block is freed whole when the last small leaf goes.
 */
static void t_frame_refcounts_split(const void *arg)
{
	struct pt_env e;
	struct frame *g;
	uint64_t H = TF->space_lo + SIZE_2M, free0 = frame_free_count(),
		 nodes0 = fake_pt_nodes_in_use();

	env_init(&e, TF, &pt_leaf_ops_frame);
	g = frame_alloc(9, FRAME_USER);
	T_ASSERT(g);
	T_EQ(frame_head(frame_of(PA(frame_pa(g).v + 77 * PAGE_SIZE))), g);
	T_EQ(env_map(&e, H, SIZE_2M, frame_pa(g), TF->rw), 0);
	T_EQ(g->refcount, 2u);
	frame_put(g); /* the table's leaf holds the only reference now */
	T_EQ(env_unmap(&e, H + 5 * PAGE_SIZE, PAGE_SIZE), 0); /* split, then one leaf goes */
	T_EQ(g->refcount, 511u);
	T_EQ(env_unmap(&e, H, 5 * PAGE_SIZE), 0);
	T_EQ(g->refcount, 506u);
	T_EQ(env_unmap(&e, H + 6 * PAGE_SIZE, SIZE_2M - 6 * PAGE_SIZE), 0);
	/* the last put freed the whole block, through its head */
	T_EQ(frame_free_count(), free0 - (fake_pt_nodes_in_use() - nodes0));
	T_ASSERT(env_fini(&e));
	T_EQ(frame_free_count(), free0);
}

/* The fake physical addresses are not host pointers: dereferencing one faults. */
static void t_fake_pa_is_not_a_pointer(const void *arg)
{
	pid_t pid;
	int status;

	(void)arg;
	fflush(stdout);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		struct frame *f = frame_alloc(0, FRAME_KERNEL);
		volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)frame_pa(f).v;

		(void)!freopen("/dev/null", "w", stderr);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		(void)*p;
		_exit(0); /* survived: the test fails */
	}
	T_EQ(waitpid(pid, &status, 0), pid);
	T_ASSERT(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

/* Upper-half positions come back sign-extended. */
static void t_upper_half_is_canonical(const void *arg)
{
	struct pt_env e;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t va = 0xffff800000200000ull;

	(void)arg;
	env_init(&e, &pt_test_fmts[0], NULL);
	T_EQ(pt_cursor_begin(&c, &e.t, VA(va), VA(va + SIZE_2M), &e.b), 0);
	T_EQ(pt_cursor_map(&c, T_PA(0), SIZE_2M, e.tf->rw), 0);
	T_EQ(pt_cursor_va(&c).v, va + SIZE_2M);
	T_EQ(pt_cursor_jump(&c, VA(va + PAGE_SIZE)), 0);
	T_EQ(pt_cursor_query(&c, &it), 0);
	T_EQ(it.va.v, va);
	pt_cursor_end(&c);
	T_ASSERT(env_fini(&e));
	/* the user-half format refuses the upper half */
	T_EQ(pt_table_init(&e.t, &pt_format_x86_64_user, NULL), 0);
	T_EQ(pt_cursor_begin(&c, &e.t, VA(va), VA(va + SIZE_2M), &e.b), -EINVAL);
	T_EQ(pt_cursor_begin(&c, &e.t, VA(0x7ffffffff000ull), VA(0x800000000000ull), &e.b), 0);
	pt_cursor_end(&c);
	pt_table_fini(&e.t, &e.b);
	pt_flush_batch_finish(&e.b);
}

struct test {
	const char *name;
	void (*fn)(const void *arg);
	bool per_format;
};

static const struct test tests[] = {
	{ "zero_entry_is_absent", t_zero_entry_is_absent, true },
	{ "prop_round_trip", t_prop_round_trip, true },
	{ "format_refusals", t_format_refusals, false },
	{ "known_encodings", t_known_encodings, false },
	{ "range_checks", t_range_checks, true },
	{ "first_and_last_page", t_first_and_last_page, true },
	{ "double_map_refused", t_double_map_refused, true },
	{ "unaligned_huge_refused", t_unaligned_huge_refused, true },
	{ "query_inside_huge", t_query_inside_huge, true },
	{ "jump_near_top", t_jump_near_top, true },
	{ "find_next_across_boundaries", t_find_next_across_boundaries, true },
	{ "take_next_subtree", t_take_next_subtree, true },
	{ "unmap_inside_huge_splits", t_unmap_inside_huge_splits, true },
	{ "protect_query_split", t_protect_query_split, true },
	{ "protect_empty_range", t_protect_empty_range, true },
	{ "copy_from", t_copy_from, true },
	{ "enomem_leaves_table_unchanged", t_enomem_leaves_table_unchanged, true },
	{ "copy_from_enomem_straddling", t_copy_from_enomem_straddling, true },
	{ "map_over_emptied_table", t_map_over_emptied_table, true },
	{ "map_range_whole_nodes", t_map_range_whole_nodes, true },
	{ "keep_root_entries", t_keep_root_entries, true },
	{ "frame_refcounts", t_frame_refcounts, false },
	{ "frame_refcounts_split", t_frame_refcounts_split, false },
	{ "fake_pa_is_not_a_pointer", t_fake_pa_is_not_a_pointer, false },
	{ "upper_half_is_canonical", t_upper_half_is_canonical, false },
};

int main(void)
{
	char name[128];

	fake_arch_init();
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++) {
		if (!tests[i].per_format) {
			tap_run(tests[i].name, tests[i].fn, &pt_test_fmts[0]);
			continue;
		}
		for (size_t f = 0; f < ARRAY_SIZE(pt_test_fmts); f++) {
			ref_reset();
			snprintf(name, sizeof(name), "%s: %s", pt_test_fmts[f].fmt->name,
				 tests[i].name);
			tap_run(name, tests[i].fn, &pt_test_fmts[f]);
		}
	}
	return tap_finish();
}
