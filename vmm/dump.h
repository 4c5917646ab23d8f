/*
 * Inspection in words: a vCPU's VMCS (guest state by mode, controls by name, the last
 * exit), a guest's EPT mappings as merged ranges with rights and leaf sizes, and its
 * exit statistics, printed on the console. Printed when a guest is killed, at the end
 * of guests named by `dump=NAME[,NAME]` on the command line, and on the guest's request
 * (KEEL_HC_DUMP). The EPT is read through the engine's cursor (no second walker).
 *
 * Context: interrupts enabled, no spinlock held (the EPT dump opens a cursor).
 */
#ifndef VMM_DUMP_H
#define VMM_DUMP_H

#include "guest.h"

/* What to dump (KEEL_DUMP_* in the hypercall ABI use the same bits). */
#define DUMP_VMCS (1u << 0)
#define DUMP_EPT (1u << 1)
#define DUMP_EXITS (1u << 2)
#define DUMP_ALL (DUMP_VMCS | DUMP_EPT | DUMP_EXITS)

/* A run of EPT leaves: [start, end), the same rights and leaf size, adjacent. */
struct dump_range {
	uint64_t start, end;
	uint16_t rights;   /* PT_PROP_R | W | X of its leaves */
	uint16_t accessed; /* PT_PROP_ACCESSED | DIRTY seen on any of its leaves */
	uint32_t leaf;	   /* leaf size in bytes (4 KiB, 2 MiB, 1 GiB) */
};

/* Called for each range in address order; a non-zero return stops the walk. */
typedef int (*dump_range_fn)(const struct dump_range *r, void *ctx);

/*
 * Walks g's EPT mappings in [start, start + len) (page-aligned; len 0: all of guest
 * RAM) and calls fn (may be NULL) for each merged range. Returns the number of ranges,
 * -EINVAL (bad range) or fn's non-zero return.
 */
int dump_ept_ranges(struct guest *g, gpa_t start, uint64_t len, dump_range_fn fn, void *ctx);

/* Prints the VMCS of v, which must be the current VMCS (v's CPU, between exit and entry). */
void dump_vmcs(struct vcpu *v);
/* Prints g's EPT ranges in [start, start + len) (len 0: all); returns as dump_ept_ranges. */
int dump_ept(struct guest *g, gpa_t start, uint64_t len);
/* Prints g's exit statistics per vCPU and reason. */
void dump_exits(struct guest *g);
/* Prints what `what` asks for (DUMP_*) about v's guest; DUMP_VMCS needs v's VMCS current. */
void dump_guest(struct vcpu *v, unsigned what);

/*
 * KEEL_HC_DUMP for v: prints what `what` asks for (v's VMCS is current); with DUMP_EPT
 * the ranges also go to out (3 words each, as many as fit; out may be NULL). Returns
 * the number of ranges (0 without DUMP_EPT) or a negative errno.
 */
int64_t dump_for_guest(struct vcpu *v, unsigned what, struct vm_pin *out);

/*
 * At the end of a guest (sched.c, on the CPU that saw it end): prints everything once
 * if it was killed or named by dump=. vmcs_current: v's VMCS is loaded (else the VMCS
 * part is left out).
 */
void dump_at_end(struct vcpu *v, bool vmcs_current);

#endif
