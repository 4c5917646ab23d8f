/*
 * Hypercalls (the ABI: include/uapi/hypercalls.tab): the table of handlers indexed by
 * number (vmm/hypercall_table.c, generated from that file), what a handler receives,
 * and the VMCALL exit that unpacks, checks and pins the arguments once, generically,
 * before the handler runs (hypercall.c).
 */
#ifndef VMM_HYPERCALL_H
#define VMM_HYPERCALL_H

#include <keel/errno.h>

#include "guest.h"

#define HC_ARG_MAX 3 /* rdi, rsi, rdx */

enum hc_arg_kind {
	HC_ARG_U64, /* a number in [min, max]: 32 bits outside 64-bit mode */
	HC_ARG_S64, /* a signed number: sign-extended from 32 bits outside 64-bit mode */
	HC_ARG_GPA, /* a guest-physical address, handed over typed (not pinned) */
	HC_ARG_IN,  /* a guest buffer Keel reads, len_arg's value bytes, pinned */
	HC_ARG_OUT, /* a guest buffer Keel writes, pinned writable */
};

struct hc_arg {
	enum hc_arg_kind kind;
	uint64_t min, max; /* HC_ARG_U64: else -EINVAL before the handler */
	unsigned len_arg;  /* HC_ARG_IN/OUT: the argument holding the length, */
	uint64_t size;	   /* or, when not 0, the buffer's fixed size */
};

/*
 * What a handler gets: every argument's value (masked or sign-extended to the guest's
 * mode), typed addresses, and for buffers a pin over exactly [gpa, gpa + len) (no pin
 * when len is 0). The pins are dropped after the handler returns; the handler reads or
 * writes through them (vm_pin_read/vm_pin_write), reading a descriptor once.
 */
struct hc_args {
	uint64_t val[HC_ARG_MAX];
	gpa_t gpa[HC_ARG_MAX];	       /* HC_ARG_GPA, HC_ARG_IN, HC_ARG_OUT */
	struct vm_pin pin[HC_ARG_MAX]; /* HC_ARG_IN, HC_ARG_OUT with len > 0 */
	bool pinned[HC_ARG_MAX];
};

/* A handler's definition and declaration: HC_HANDLER(console_write) { ... }. It returns
 * the result for rax (>= 0, or a negative errno); one that ends the guest (guest_exit)
 * returns anything: the VMCALL does not complete. */
#define HC_HANDLER(name) int64_t hc_##name(struct vcpu *v, struct hc_args *a)
/* A resumable hypercall's next step (the VMCALL retried while v->cont.active). */
#define HC_RESUME(name) int64_t hc_##name##_resume(struct vcpu *v)

struct hypercall {
	const char *name;
	int64_t (*fn)(struct vcpu *v, struct hc_args *a);
	/* -EBUSY means "a page is pinned, try again": the VMCALL is retried later (RIP not
	 * advanced, the CPU may run another vCPU meanwhile) instead of returning. */
	bool retry_busy;
	/* Resumable: the handler may set v->cont.active and return; the VMCALL is then
	 * retried (EXIT_YIELD) and resume called, until it clears active and returns the
	 * result. Its pins stay in v->cont in between. */
	int64_t (*resume)(struct vcpu *v);
	bool buffers; /* an HC_ARG_IN/OUT argument: the step pins (most calls take none) */
	/* buffers, resume or retry_busy: the VMCALL takes hc_call_full (generated, so the
	 * common exit tests one flag) */
	bool full_step;
	unsigned arg_count;
	struct hc_arg arg[HC_ARG_MAX];
};

/* The table, KEEL_HC_COUNT entries (vmm/hypercall_table.c, generated). */
extern const struct hypercall hypercalls[];

/*
 * The number part of the step (inline: every VMCALL runs it, most need nothing else):
 * each argument masked or sign-extended for the guest's mode, numbers checked against
 * their bounds, nothing pinned yet. 0 or -EINVAL.
 */
static inline int hc_args_numbers(const struct hypercall *h, const uint64_t *raw, bool wide,
				  struct hc_args *a)
{
	int err = 0;
	for (unsigned i = 0; i < h->arg_count; i++) {
		const struct hc_arg *d = &h->arg[i];
		uint64_t v = wide ? raw[i] : (uint32_t)raw[i];
		if (d->kind == HC_ARG_S64 && !wide)
			v = (uint64_t)(int64_t)(int32_t)raw[i];
		a->val[i] = v;
		a->gpa[i] = GPA(v);
		a->pinned[i] = false;
		if (d->kind == HC_ARG_U64 && (v < d->min || v > d->max))
			err = -EINVAL;
	}
	return err;
}

/* Pins h's buffer arguments (after hc_args_numbers): 0, or -EINVAL (too long to pin),
 * -EFAULT (not g's RAM with the access) or -ENOMEM, with nothing pinned. */
int hc_args_pin(struct guest *g, const struct hypercall *h, struct hc_args *a) __must_check;
/* Drops the pins hc_args_pin took. */
void hc_args_unpin(const struct hypercall *h, struct hc_args *a);

/*
 * Unpacks raw argument registers for h into a, checking numbers against their bounds
 * and pinning buffers in g's RAM. 0, or -EINVAL (a number out of bounds, a buffer too
 * long to pin), -EFAULT (a buffer that is not g's RAM with the access) or -ENOMEM, with
 * nothing pinned. wide: the guest runs 64-bit code. Release with hc_args_release.
 */
static inline int __must_check hc_args_unpack(struct guest *g, const struct hypercall *h,
					      const uint64_t *raw, bool wide, struct hc_args *a)
{
	int err = hc_args_numbers(h, raw, wide, a);
	if (!err && h->buffers)
		err = hc_args_pin(g, h, a);
	return err;
}

static inline void hc_args_release(const struct hypercall *h, struct hc_args *a)
{
	if (h->buffers)
		hc_args_unpin(h, a);
}

/* Ends a resumable hypercall under way on v (its guest ended): drops its pins. */
void hc_cont_abort(struct vcpu *v);

#endif
