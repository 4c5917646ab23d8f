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

/* The VMCALL completes with ret in rax (RIP past it), unless the call ended the guest. */
static enum exit_action hc_complete(struct vcpu *v, int64_t ret)
{
	if (guest_ended(v->guest))
		return EXIT_STOP;
	v->regs.rax = (uint64_t)ret;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}

/* The argument registers (SDM Vol 2C VMCALL is silent: Keel's ABI): rdi, rsi, rdx;
 * outside 64-bit mode only their low halves count (hc_args_numbers masks them). */
#define HC_RAW_ARGS(r)                       \
	{                                    \
		(r)->rdi, (r)->rsi, (r)->rdx \
	}

/*
 * A hypercall that pins, may stop part way (resumable) or retries on -EBUSY: the whole
 * step. A retried VMCALL of a resumable hypercall under way goes on with it; any other
 * call meanwhile (e.g. from an interrupt handler the guest took before the retry) is
 * served as usual, except another resumable one (-EAGAIN).
 */
static __attribute__((noinline)) enum exit_action
hc_call_full(struct vcpu *v, const struct hypercall *h, uint64_t nr)
{
	if (v->cont.active && h->resume) {
		if (v->cont.nr != nr || v->cont.rip != v->rip)
			return hc_complete(v, -EAGAIN); /* not the one under way */
		int64_t ret = h->resume(v);
		return v->cont.active && !guest_ended(v->guest) ? EXIT_YIELD : hc_complete(v, ret);
	}
	const uint64_t raw[HC_ARG_MAX] = HC_RAW_ARGS(&v->regs);
	struct hc_args a;
	int64_t ret = hc_args_unpack(v->guest, h, raw, vcpu_in_64bit_mode(v), &a);
	if (!ret) {
		ret = h->fn(v, &a);
		hc_args_release(h, &a);
	}
	if (guest_ended(v->guest))
		return EXIT_STOP;
	if (h->resume && v->cont.active) {
		v->cont.nr = nr; /* stopped part way: retry the VMCALL */
		v->cont.rip = v->rip;
		return EXIT_YIELD;
	}
	if (ret == -EBUSY && h->retry_busy)
		return EXIT_YIELD;
	return hc_complete(v, ret);
}

/*
 * VMCALL (exit reason 18): rax = number, rdi, rsi, rdx = arguments (eax, edi, esi, edx
 * outside 64-bit mode: the upper halves are undefined there). Most hypercalls take
 * numbers only: for them the step is hc_args_numbers inline and the handler; the rest
 * take hc_call_full. The mode is read only when it matters (an upper half set, or
 * arguments to unpack).
 */
enum exit_action exit_vmcall(struct vcpu *v)
{
	struct vcpu_regs *r = &v->regs;
	v->hypercall_count++;
	uint64_t nr = r->rax;
	if ((nr >> 32) && !vcpu_in_64bit_mode(v))
		nr = (uint32_t)nr;
	const struct hypercall *h = nr < KEEL_HC_COUNT ? &hypercalls[nr] : NULL;
	if (!h || !h->fn)
		return hc_complete(v, -ENOSYS);
	if (h->full_step)
		return hc_call_full(v, h, nr);
	struct hc_args a;
	int64_t ret = 0;
	if (h->arg_count) {
		const uint64_t raw[HC_ARG_MAX] = HC_RAW_ARGS(r);
		ret = hc_args_numbers(h, raw, vcpu_in_64bit_mode(v), &a);
	}
	if (!ret)
		ret = h->fn(v, &a);
	return hc_complete(v, ret);
}
