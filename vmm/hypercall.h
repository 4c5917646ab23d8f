/*
 * Hypercalls (include/uapi/keel_hypercall.h): a table of small handlers indexed by the
 * hypercall number, and the VMCALL exit that unpacks the arguments and dispatches.
 */
#ifndef VMM_HYPERCALL_H
#define VMM_HYPERCALL_H

#include "guest.h"

/*
 * A handler gets the vCPU and the first two arguments (rdi, rsi; 32 bits wide outside
 * 64-bit mode) and returns the result for rax: >= 0, or a negative errno. A handler
 * that ends the guest (guest_exit) returns anything: the VMCALL does not complete.
 */
typedef int64_t (*hypercall_fn)(struct vcpu *v, uint64_t a0, uint64_t a1);

struct hypercall {
	const char *name;
	hypercall_fn fn;
	/* -EBUSY means "a page is pinned, try again": the VMCALL is retried later (RIP not
	 * advanced, the CPU may run another vCPU meanwhile) instead of returning. */
	bool retry_busy;
};

/* The table, KEEL_HC_COUNT entries, every one filled (a kernel test checks). */
extern const struct hypercall hypercalls[];

#endif
