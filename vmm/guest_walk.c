/*
 * The guest's own page walk (guest_walk.h): 32-bit, PAE and 4-level paging as the SDM
 * describes them (Vol 3A 4.3, 4.4, 4.5), as data: each mode is a list of levels, and one
 * loop walks any of them. Pure: no vCPU, no VMCS, no guest memory but through read().
 *
 * Not modelled (said once here): accessed/dirty bits are not set; SMAP (it needs
 * RFLAGS.AC and the access's implicit-supervisor kind); protection keys; reserved bits
 * above MAXPHYADDR (entries are masked to bits 51:12); 5-level paging (-ENOTSUP).
 */
#include <keel/errno.h>

#include "guest_walk.h"

/* Paging-register bits used here (SDM Vol 3A 2.5, 2.2.1). */
#define CR0_PG (1ull << 31)
#define CR0_WP (1ull << 16)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_SMEP (1ull << 20)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

/* Entry bits shared by every format (SDM Vol 3A 4.3 tables 4-4..4-10, 4.5 tables). */
#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_PS (1ull << 7)
#define PTE_XD (1ull << 63)
#define PTE_ADDR 0x000FFFFFFFFFF000ull

/* #PF error code bits (SDM Vol 3A 4.7). */
#define PF_P (1u << 0)
#define PF_W (1u << 1)
#define PF_U (1u << 2)
#define PF_RSVD (1u << 3)
#define PF_ID (1u << 4)

/* One level of a paging mode: where its index sits in the address, and its entries. */
struct gw_level {
	uint8_t shift; /* lowest address bit the index covers */
	uint8_t bits;  /* index width */
	uint8_t size;  /* entry size in bytes */
	bool leaf_ok;  /* PS=1 here makes a leaf (if the mode allows it) */
	bool ps_rsvd;  /* PS=1 here is a reserved-bit fault */
};

struct gw_mode {
	const struct gw_level *level;
	unsigned count;
	bool has_xd; /* entries are 64-bit with an XD bit */
};

static const struct gw_level levels_32[] = { { 22, 10, 4, true, false },
					     { 12, 10, 4, false, false } };
static const struct gw_level levels_pae[] = { { 21, 9, 8, true, false },
					      { 12, 9, 8, false, false } };
static const struct gw_level levels_4[] = { { 39, 9, 8, false, true },
					    { 30, 9, 8, true, false },
					    { 21, 9, 8, true, false },
					    { 12, 9, 8, false, false } };

/* Rights gathered on the way down: a page is writable/user only if every level says so. */
struct gw_rights {
	bool write, user, xd;
};

static uint32_t gw_pf_code(const struct guest_paging *p, unsigned access, uint32_t why)
{
	uint32_t code = why;
	if (access & GW_WRITE)
		code |= PF_W;
	if (access & GW_USER)
		code |= PF_U;
	if ((access & GW_FETCH) && (p->efer & EFER_NXE || p->cr4 & CR4_SMEP))
		code |= PF_ID;
	return code;
}

/* The rights check of SDM Vol 3A 4.6 for one access; true if it is allowed. */
static bool gw_allowed(const struct guest_paging *p, unsigned access, struct gw_rights r)
{
	if (!(access & GW_CHECK))
		return true;
	if ((access & GW_USER) && !r.user)
		return false;
	if ((access & GW_WRITE) && !r.write && ((access & GW_USER) || (p->cr0 & CR0_WP)))
		return false;
	if ((access & GW_FETCH) && r.xd)
		return false;
	if ((access & GW_FETCH) && !(access & GW_USER) && r.user && (p->cr4 & CR4_SMEP))
		return false;
	return true;
}

/* A leaf's physical address: its frame bits above `shift`, the address's bits below. */
static uint64_t gw_leaf_addr(uint64_t entry, unsigned size, unsigned shift, uint64_t la)
{
	uint64_t mask = (1ull << shift) - 1;
	uint64_t base = entry & PTE_ADDR & ~mask;
	if (size == 4 && shift == 22) /* PSE-36: bits 20:13 hold address bits 39:32 */
		base = (entry & 0xFFC00000ull) | ((entry >> 13) & 0xFFull) << 32;
	return base | (la & mask);
}

/* Reserved bits of an entry that is present (SDM Vol 3A 4.4.2, 4.5.4 on RSVD faults). */
static bool gw_reserved(const struct gw_mode *m, const struct gw_level *lv, uint64_t e,
			const struct guest_paging *p)
{
	if (m->has_xd && (e & PTE_XD) && !(p->efer & EFER_NXE))
		return true;
	if ((e & PTE_PS) && lv->ps_rsvd)
		return true;
	if ((e & PTE_PS) && lv->leaf_ok && lv->shift > 12 && m->has_xd)
		return (e & ((1ull << lv->shift) - 1) & ~0x1FFFull) != 0; /* bits shift-1:13 */
	return false;
}

/* Walks m's levels from table `table`; the loop shared by every mode. */
static int gw_walk_levels(const struct guest_paging *p, const struct gw_mode *m, uint64_t table,
			  uint64_t la, unsigned access, guest_walk_read_fn read, void *arg,
			  struct gw_rights r, struct guest_walk_result *out, uint32_t *pf_error)
{
	for (unsigned i = 0; i < m->count; i++) {
		const struct gw_level *lv = &m->level[i];
		uint64_t index = (la >> lv->shift) & ((1ull << lv->bits) - 1);
		uint64_t e = 0;
		if (read(arg, GPA(table + index * lv->size), lv->size, &e))
			return *pf_error = 0, -EFAULT;
		if (!(e & PTE_P))
			return *pf_error = gw_pf_code(p, access, 0), -EFAULT;
		if (gw_reserved(m, lv, e, p))
			return *pf_error = gw_pf_code(p, access, PF_P | PF_RSVD), -EFAULT;
		r.write &= !!(e & PTE_RW);
		r.user &= !!(e & PTE_US);
		r.xd |= m->has_xd && (p->efer & EFER_NXE) && (e & PTE_XD);
		bool pse = m->has_xd || (p->cr4 & CR4_PSE);
		bool leaf = i + 1 == m->count || (lv->leaf_ok && pse && (e & PTE_PS));
		if (!leaf) {
			table = e & (lv->size == 4 ? 0xFFFFF000ull : PTE_ADDR);
			continue;
		}
		if (!gw_allowed(p, access, r))
			return *pf_error = gw_pf_code(p, access, PF_P), -EFAULT;
		out->gpa = GPA(gw_leaf_addr(e, lv->size, lv->shift, la));
		out->page_size = 1ull << lv->shift;
		return 0;
	}
	return -EFAULT; /* unreachable: the last level is always a leaf */
}

static bool gw_canonical(uint64_t la)
{
	return (uint64_t)((int64_t)(la << 16) >> 16) == la;
}

int guest_walk(const struct guest_paging *p, uint64_t la, unsigned access, guest_walk_read_fn read,
	       void *arg, struct guest_walk_result *out, uint32_t *pf_error)
{
	static const struct gw_mode mode_32 = { levels_32, 2, false };
	static const struct gw_mode mode_pae = { levels_pae, 2, true };
	static const struct gw_mode mode_4 = { levels_4, 4, true };
	struct gw_rights all = { true, true, false };
	*pf_error = 0;
	if (!(p->cr0 & CR0_PG)) {
		out->gpa = GPA(la & 0xFFFFFFFFull); /* paging off: linear is 32-bit physical */
		out->page_size = PAGE_SIZE;
		return 0;
	}
	if (p->efer & EFER_LMA) {
		if (p->cr4 & CR4_LA57)
			return -ENOTSUP;
		if (!gw_canonical(la))
			return -EFAULT; /* a #GP, not a #PF: *pf_error stays 0 */
		return gw_walk_levels(p, &mode_4, p->cr3 & PTE_ADDR, la, access, read, arg, all,
				      out, pf_error);
	}
	la &= 0xFFFFFFFFull;
	if (!(p->cr4 & CR4_PAE))
		return gw_walk_levels(p, &mode_32, p->cr3 & 0xFFFFF000ull, la, access, read, arg,
				      all, out, pf_error);
	/* PAE: the PDPTE registers hold the top level; they carry no rights (SDM 4.4.1). */
	uint64_t pdpte = p->pdpte[(la >> 30) & 3];
	if (!(pdpte & PTE_P))
		return *pf_error = gw_pf_code(p, access, 0), -EFAULT;
	return gw_walk_levels(p, &mode_pae, pdpte & PTE_ADDR, la, access, read, arg, all, out,
			      pf_error);
}
