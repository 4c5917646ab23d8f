/*
 * The pinning half of the one generic step before every hypercall handler
 * (hypercall.h, whose inline hc_args_numbers unpacks and checks the numbers): pinning
 * guest buffers in the guest's EPT space so they stay guest RAM while the handler uses
 * them, and dropping the pins. Knows the guest's space and nothing else of the guest,
 * so the host tests fuzz it on the fake arch (tests/host/test_hc_args.c).
 */
#include <keel/errno.h>

#include "hypercall.h"

/* Pins buffer argument i; an empty one is not pinned. */
static int pin_one(struct guest *g, const struct hc_arg *d, struct hc_args *a, unsigned i)
{
	uint64_t len = d->size ? d->size : a->val[d->len_arg];
	if (!len)
		return 0;
	unsigned access = d->kind == HC_ARG_OUT ? VM_ACCESS_WRITE : VM_ACCESS_READ;
	int err = vm_space_pin_gpa(&g->space, a->gpa[i], len, access, &a->pin[i]);
	if (err == -ENOMEM || err == -E2BIG)
		return err == -E2BIG ? -EINVAL : -ENOMEM;
	if (err)
		return -EFAULT; /* outside RAM, wrapping, without the access, not RAM */
	a->pinned[i] = true;
	return 0;
}

void hc_args_unpin(const struct hypercall *h, struct hc_args *a)
{
	for (unsigned i = 0; i < h->arg_count; i++)
		if (a->pinned[i]) {
			vm_space_unpin(&a->pin[i]);
			a->pinned[i] = false;
		}
}

int hc_args_pin(struct guest *g, const struct hypercall *h, struct hc_args *a)
{
	int err = 0;
	for (unsigned i = 0; !err && i < h->arg_count; i++)
		if (h->arg[i].kind == HC_ARG_IN || h->arg[i].kind == HC_ARG_OUT)
			err = pin_one(g, &h->arg[i], a, i);
	if (err)
		hc_args_unpin(h, a);
	return err;
}
