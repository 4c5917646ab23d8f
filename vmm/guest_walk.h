/*
 * The guest's own paging: translating a guest-linear address to a guest-physical one
 * the way the vCPU's MMU would (SDM Vol 3A chapter 4), for the exits that must read or
 * write guest memory by linear address (instruction fetch for MMIO decode, string I/O,
 * a debugger). The walk is pure: it sees the paging registers as values and reads table
 * entries through a callback, so it is host-tested; guest_linear.h binds it to a vCPU.
 */
#ifndef VMM_GUEST_WALK_H
#define VMM_GUEST_WALK_H

#include <keel/compiler.h>
#include <keel/types.h>

/* What the access is; 0 = a debugger's look (present bits only, no rights checked). */
#define GW_WRITE 0x1u /* a write */
#define GW_USER 0x2u  /* from CPL 3 */
#define GW_FETCH 0x4u /* an instruction fetch */
#define GW_CHECK 0x8u /* check rights (W, U/S, XD, CR0.WP) for the access above */

/* The paging registers of a vCPU: everything that decides how an address translates. */
struct guest_paging {
	uint64_t cr0, cr3, cr4, efer;
	/* PAE paging outside long mode: the PDPTE registers (SDM 4.4.1), not memory. */
	uint64_t pdpte[4];
};

/* Reads the 4- or 8-byte (size) table entry at gpa into *val. Returns 0 or -EFAULT. */
typedef int (*guest_walk_read_fn)(void *arg, gpa_t gpa, unsigned size, uint64_t *val);

/* A translation: where the byte is, and how far its page goes from there. */
struct guest_walk_result {
	gpa_t gpa;
	uint64_t page_size; /* 4K, 2M, 4M or 1G; for paging off: 4K */
};

/*
 * Translates linear address la under paging state p for `access` (GW_*). Returns 0 and
 * *out; -EFAULT with *pf_error set to the #PF error code the guest would get (SDM
 * 4.7: P, W/R, U/S, RSVD, I/D bits) when the walk meets a non-present entry, a reserved
 * bit or (with GW_CHECK) a rights violation; -EFAULT with *pf_error = 0 when read()
 * fails (a table outside guest RAM); -ENOTSUP for 5-level paging (CR4.LA57).
 */
int guest_walk(const struct guest_paging *p, uint64_t la, unsigned access, guest_walk_read_fn read,
	       void *arg, struct guest_walk_result *out, uint32_t *pf_error) __must_check;

#endif
