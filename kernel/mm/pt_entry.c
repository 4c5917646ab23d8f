/*
 * Page-table engine, bottom layer: raw entries to and from their meaning, through the
 * format's pure functions, with the cursor's memo of the last level-1 leaf decoded and
 * encoded (struct pt_leaf_memo): along a run of leaves with one prop and consecutive
 * pa, the format's leaf_pa_step turns decode and encode into an add or a subtract.
 * Calls no other engine file; knows no format bits and no TLB instruction, and does
 * not read or write tables (callers load and store the raw values).
 */
#include "pt_internal.h"

bool pt_memo_decode(const struct pt_format *f, const struct pt_leaf_memo *m, uint64_t raw,
		    paddr_t *pa)
{
	uint64_t d = raw - m->raw, step = f->leaf_pa_step, page;

	if (!m->valid || !pt_has_step(f) || (d & (step - 1)))
		return false;
	/* arithmetic shift: k is negative when raw lies below m->raw */
	page = (m->pa.v >> PAGE_SHIFT) + (uint64_t)((int64_t)d >> __builtin_ctzll(step));
	if (page >= 1ull << (f->pa_bits - PAGE_SHIFT))
		return false; /* out of range, or below 0 (wrapped) */
	*pa = PA(page << PAGE_SHIFT);
	return true;
}

void pt_decode_l1(const struct pt_format *f, struct pt_leaf_memo *m, uint64_t raw,
		  struct pt_entry *e)
{
	paddr_t pa;

	if (pt_memo_decode(f, m, raw, &pa)) {
		*e = (struct pt_entry){ .kind = PT_ENTRY_LEAF, .pa = pa, .prop = m->prop };
		return;
	}
	f->decode(raw, 1, e);
	if (e->kind == PT_ENTRY_LEAF)
		*m = (struct pt_leaf_memo){
			.raw = raw, .pa = e->pa, .prop = e->prop, .valid = true
		};
}

void pt_decode_entry(struct pt_cursor *c, uint64_t raw, unsigned level, struct pt_entry *e)
{
	if (!raw)
		*e = (struct pt_entry){ .kind = PT_ENTRY_ABSENT };
	else if (level == 1)
		pt_decode_l1(c->fmt, &c->dec, raw, e);
	else
		c->fmt->decode(raw, level, e);
}

int pt_encode_entry(struct pt_cursor *c, paddr_t pa, struct pt_prop prop, unsigned level,
		    uint64_t *raw)
{
	const struct pt_format *f = c->fmt;
	const struct pt_leaf_memo *m = &c->enc;
	int err;

	if (level == 1 && m->valid && pt_has_step(f) && pt_prop_equal(prop, m->prop)) {
		*raw = m->raw + ((pa.v >> PAGE_SHIFT) - (m->pa.v >> PAGE_SHIFT)) * f->leaf_pa_step;
		return 0;
	}
	err = f->encode_leaf(pa, prop, level, raw);
	if (!err && level == 1)
		c->enc =
		    (struct pt_leaf_memo){ .raw = *raw, .pa = pa, .prop = prop, .valid = true };
	return err;
}
