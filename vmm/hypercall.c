/*
 * The VMCALL exit: finds the hypercall in the table, has its arguments unpacked and
 * pinned (hypercall_args.c), runs the handler (hypercall_handlers.c), and retries the
 * VMCALL of a resumable one that stopped part way, or of one a pin made wait.
 */
#include <keel/errno.h>
#include <uapi/keel_hypercall.h>

#include "exit_handlers.h"
#include "hypercall.h"
#include "vcpu.h"

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
