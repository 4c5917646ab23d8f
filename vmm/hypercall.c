/*
 * The VMCALL exit and the one generic step before every hypercall handler: unpacking
 * the argument registers by the table's description (hypercall.h), checking numbers
 * against their bounds, and pinning guest buffers in the guest's EPT space so they
 * stay guest RAM while the handler uses them. The handlers: hypercall_handlers.c.
 */
#include <keel/errno.h>
#include <uapi/keel_hypercall.h>

#include "exit_handlers.h"
#include "hypercall.h"
#include "vcpu.h"

/* One argument: the value for the guest's mode; numbers checked, addresses typed. */
static int unpack_one(const struct hc_arg *d, uint64_t raw, bool wide, struct hc_args *a,
		      unsigned i)
{
	uint64_t v = wide ? raw : (uint32_t)raw;
	if (d->kind == HC_ARG_S64 && !wide)
		v = (uint64_t)(int64_t)(int32_t)raw;
	a->val[i] = v;
	a->gpa[i] = GPA(v);
	a->pinned[i] = false;
	if (d->kind == HC_ARG_U64 && (v < d->min || v > d->max))
		return -EINVAL;
	return 0;
}

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

void hc_args_release(const struct hypercall *h, struct hc_args *a)
{
	for (unsigned i = 0; i < h->arg_count; i++)
		if (a->pinned[i]) {
			vm_space_unpin(&a->pin[i]);
			a->pinned[i] = false;
		}
}

int hc_args_unpack(struct guest *g, const struct hypercall *h, const uint64_t *raw, bool wide,
		   struct hc_args *a)
{
	int err = 0;
	for (unsigned i = 0; i < h->arg_count; i++)
		a->pinned[i] = false;
	for (unsigned i = 0; !err && i < h->arg_count; i++)
		err = unpack_one(&h->arg[i], raw[i], wide, a, i);
	for (unsigned i = 0; !err && i < h->arg_count; i++)
		if (h->arg[i].kind == HC_ARG_IN || h->arg[i].kind == HC_ARG_OUT)
			err = pin_one(g, &h->arg[i], a, i);
	if (err)
		hc_args_release(h, a);
	return err;
}

void hc_cont_abort(struct vcpu *v)
{
	struct hc_cont *c = &v->cont;
	for (unsigned i = 0; i < HC_CONT_PINS; i++)
		if (c->pinned[i]) {
			vm_space_unpin(&c->pin[i]);
			c->pinned[i] = false;
		}
	c->active = false;
}

/* Runs hypercall nr with the raw argument registers; -ENOSYS for an unknown number. A
 * retried VMCALL of a resumable hypercall under way goes on with it; any other call
 * meanwhile (e.g. from an interrupt handler the guest took before the retry) is served
 * as usual, except another resumable one (-EAGAIN). */
static int64_t hc_call(struct vcpu *v, uint64_t nr, const uint64_t *raw, bool wide,
		       const struct hypercall **hp, bool *resumable)
{
	const struct hypercall *h = nr < KEEL_HC_COUNT ? &hypercalls[nr] : NULL;
	*hp = h;
	*resumable = h && h->resume;
	if (!h || !h->fn)
		return -ENOSYS;
	if (v->cont.active && h->resume) {
		if (v->cont.nr == nr && v->cont.rip == v->rip)
			return h->resume(v);
		*resumable = false; /* not the one under way */
		return -EAGAIN;
	}
	struct hc_args a;
	int err = hc_args_unpack(v->guest, h, raw, wide, &a);
	if (err)
		return err;
	int64_t ret = h->fn(v, &a);
	hc_args_release(h, &a);
	return ret;
}

/* VMCALL (SDM Vol 2C VMCALL; exit reason 18): rax = number, rdi, rsi, rdx = arguments;
 * outside 64-bit mode the upper halves are undefined: eax, edi, esi, edx. */
enum exit_action exit_vmcall(struct vcpu *v)
{
	struct vcpu_regs *r = &v->regs;
	bool wide = vcpu_in_64bit_mode(v);
	uint64_t nr = wide ? r->rax : (uint32_t)r->rax;
	const uint64_t raw[HC_ARG_MAX] = { r->rdi, r->rsi, r->rdx };
	const struct hypercall *h;
	bool resumable;
	v->hypercall_count++;
	int64_t ret = hc_call(v, nr, raw, wide, &h, &resumable);
	if (guest_ended(v->guest))
		return EXIT_STOP;
	if (resumable && v->cont.active) {
		v->cont.nr = nr; /* a resumable call stopped part way: retry the VMCALL */
		v->cont.rip = v->rip;
		return EXIT_YIELD;
	}
	if (ret == -EBUSY && h && h->retry_busy)
		return EXIT_YIELD;
	r->rax = (uint64_t)ret;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}
