/*
 * Guest memory by guest-linear address: the guest's own page walk (guest_walk.h) bound to
 * its RAM (guest_mem.h) and to the paging registers of the vCPU whose VMCS is current.
 * For exits that must see memory the way the guest does: the instruction at CS:RIP (MMIO
 * decode), string I/O buffers, a debugger's reads and writes.
 */
#ifndef VMM_GUEST_LINEAR_H
#define VMM_GUEST_LINEAR_H

#include "guest.h"
#include "guest_walk.h"

/* The paging registers (and PDPTE registers) of the vCPU whose VMCS is current. */
void vcpu_paging(struct guest_paging *p);

/*
 * Translates la through g's page tables under p for access (GW_*). Returns 0 and *out,
 * or guest_walk's errors (-EFAULT with *pf_error the guest's #PF code, 0 when a table
 * is not guest RAM or la is non-canonical; -ENOTSUP).
 */
int guest_linear_translate(struct guest *g, const struct guest_paging *p, uint64_t la,
			   unsigned access, gpa_t *out, uint32_t *pf_error) __must_check;

/*
 * Copies len bytes between guest-linear [la, la + len) and buf, page by page, each page
 * translated for access (GW_WRITE is added for writes). Stops at the first page that
 * does not translate or is not RAM: returns its error (as guest_linear_translate, or the
 * pin's -EFAULT/-ENOMEM), with *done = bytes copied before it. Returns 0 when all were.
 */
int guest_linear_read(struct guest *g, const struct guest_paging *p, uint64_t la, void *buf,
		      uint64_t len, unsigned access, uint64_t *done,
		      uint32_t *pf_error) __must_check;
int guest_linear_write(struct guest *g, const struct guest_paging *p, uint64_t la, const void *buf,
		       uint64_t len, unsigned access, uint64_t *done,
		       uint32_t *pf_error) __must_check;

/*
 * Up to max (<= 15) bytes of the instruction at CS:RIP of the current vCPU, fetched as
 * the CPU would (a fetch at the guest's CPL, rights checked). Returns the number of
 * bytes fetched (fewer than max when the next page does not translate) or, when not
 * even the first byte can be fetched, the error with *pf_error as above.
 */
int vcpu_fetch_insn(struct vcpu *v, uint8_t *buf, unsigned max, uint32_t *pf_error);

#endif
