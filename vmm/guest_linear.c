/*
 * Guest memory by guest-linear address (guest_linear.h): the pure walk of guest_walk.c
 * reading tables from guest RAM, copies split at guest page boundaries, and the vCPU's
 * paging registers and CS:RIP from the current VMCS.
 */
#include <keel/errno.h>

#include "guest_linear.h"
#include "guest_mem.h"

#define EFER_LMA (1ull << 10)

void vcpu_paging(struct guest_paging *p)
{
	p->cr0 = vmread(VMCS_GUEST_CR0);
	p->cr3 = vmread(VMCS_GUEST_CR3);
	p->cr4 = vmread(VMCS_GUEST_CR4);
	p->efer = vmread(VMCS_GUEST_EFER);
	/* With EPT the CPU keeps PAE paging's PDPTEs in the VMCS (SDM Vol 3C 25.4.2, 28.3.4). */
	for (unsigned i = 0; i < 4; i++)
		p->pdpte[i] = vmread(VMCS_GUEST_PDPTE0 + 2 * i);
}

/* guest_walk's reader: one table entry from guest RAM. */
static int gl_read_entry(void *arg, gpa_t gpa, unsigned size, uint64_t *val)
{
	*val = 0;
	return guest_mem_read(arg, gpa, val, size) ? -EFAULT : 0;
}

int guest_linear_translate(struct guest *g, const struct guest_paging *p, uint64_t la,
			   unsigned access, gpa_t *out, uint32_t *pf_error)
{
	struct guest_walk_result r;
	int err = guest_walk(p, la, access, gl_read_entry, g, &r, pf_error);
	if (!err)
		*out = r.gpa;
	return err;
}

/* The copy loop of both directions: at most to the end of each 4K linear page. */
static int gl_copy(struct guest *g, const struct guest_paging *p, uint64_t la, void *rbuf,
		   const void *wbuf, uint64_t len, unsigned access, uint64_t *done,
		   uint32_t *pf_error)
{
	*done = 0;
	*pf_error = 0;
	while (*done < len) {
		uint64_t at = la + *done;
		uint64_t chunk = MIN(len - *done, PAGE_SIZE - (at & PAGE_MASK));
		gpa_t gpa;
		int err = guest_linear_translate(g, p, at, access, &gpa, pf_error);
		if (!err && rbuf)
			err = guest_mem_read(g, gpa, (uint8_t *)rbuf + *done, chunk);
		else if (!err)
			err = guest_mem_write(g, gpa, (const uint8_t *)wbuf + *done, chunk);
		if (err)
			return err;
		*done += chunk;
	}
	return 0;
}

int guest_linear_read(struct guest *g, const struct guest_paging *p, uint64_t la, void *buf,
		      uint64_t len, unsigned access, uint64_t *done, uint32_t *pf_error)
{
	return gl_copy(g, p, la, buf, NULL, len, access & ~GW_WRITE, done, pf_error);
}

int guest_linear_write(struct guest *g, const struct guest_paging *p, uint64_t la, const void *buf,
		       uint64_t len, unsigned access, uint64_t *done, uint32_t *pf_error)
{
	return gl_copy(g, p, la, NULL, buf, len, access | GW_WRITE, done, pf_error);
}

/* CPL is the DPL of SS (SDM Vol 3A 5.5; SS.DPL = CPL once in protected mode). */
static unsigned gl_cpl(void)
{
	return (vmread(VMCS_GUEST_ES_AR + 2 * 2) >> 5) & 3; /* SS is the third segment */
}

int vcpu_fetch_insn(struct vcpu *v, uint8_t *buf, unsigned max, uint32_t *pf_error)
{
	struct guest_paging p;
	vcpu_paging(&p);
	uint64_t rip = vmread(VMCS_GUEST_RIP);
	bool long64 = (p.efer & EFER_LMA) && ((vmread(VMCS_GUEST_CS_AR) >> 13) & 1);
	/* In 64-bit mode CS's base is ignored (SDM Vol 3A 3.4.4); otherwise 32-bit wrap. */
	uint64_t la = long64 ? rip : (vmread(VMCS_GUEST_CS_BASE) + rip) & 0xFFFFFFFFull;
	unsigned access = GW_FETCH | GW_CHECK | (gl_cpl() == 3 ? GW_USER : 0);
	uint64_t done = 0;
	int err = guest_linear_read(v->guest, &p, la, buf, MIN(max, 15u), access, &done, pf_error);
	return done ? (int)done : err;
}
