/*
 * Port I/O exits: decodes the qualification (SDM Vol 3C 28.2.1 table 28-5: bits 2:0
 * size - 1, 3 direction in, 4 string, 5 REP, 31:16 port) and hands the access to the
 * device bus (dev/dev.h). Ports no device claims read all ones, ignore writes and are
 * counted by port number (the guest's exit statistics). String I/O (INS/OUTS, with or
 * without REP) is emulated here: the buffer is the guest-linear address the exit gives
 * (28.2.1 "guest-linear address"), walked through the guest's own page tables.
 */
#include "dev/dev.h"
#include "exit_handlers.h"
#include "guest_linear.h"
#include "vcpu.h"

#define IOQ_IN (1u << 3)
#define IOQ_STRING (1u << 4)
#define IOQ_REP (1u << 5)
#define RFLAGS_DF (1ull << 10)
#define VMX_BASIC_INSOUTS (1ull << 54) /* A.1: instruction information for INS/OUTS */
/* VMCS fields (SDM Vol 3C appendix B): VM-exit instruction information, guest-linear
 * address. */
#define VMCS_EXIT_INSN_INFO_F 0x440E
#define VMCS_GUEST_LINEAR_ADDR_F 0x640A
#define STRING_BATCH 256 /* iterations per exit; a longer REP continues at re-entry */
#define PF_VECTOR 14

/* One port access on the bus: *val in (all ones when unclaimed) or out. */
static enum exit_action port_access(struct vcpu *v, unsigned port, unsigned size, bool in,
				    uint64_t *val)
{
	enum exit_action a = EXIT_RESUME;
	if (!vdev_access(v, VDEV_PIO, port, size, !in, val, &a)) {
		vdev_note_unclaimed(v->guest->devices, port);
		if (in)
			*val = vdev_size_mask(size);
	}
	return a;
}

/*
 * Mask of the address size of a string instruction: from the instruction-information
 * field where the CPU gives it (28.2.5 table 28-8, bits 9:7), else from CS (L: 64-bit,
 * D: 32-bit, else 16-bit; an address-size prefix is then not seen).
 */
static uint64_t string_addr_mask(void)
{
	unsigned as;
	if (vmx_caps.basic & VMX_BASIC_INSOUTS) {
		as = (unsigned)(vmread(VMCS_EXIT_INSN_INFO_F) >> 7) & 7;
	} else {
		uint64_t ar = vmread(VMCS_GUEST_CS_AR);
		as = ar & (1u << 13) ? 2 : ar & (1u << 14) ? 1 : 0;
	}
	return as == 2 ? ~0ull : as == 1 ? 0xFFFFFFFFull : 0xFFFF;
}

/* reg advanced by delta in an address of size mask: 16-bit keeps the upper bits,
 * 32-bit zero-extends (as in 64-bit mode; outside it the upper half is unused). */
static uint64_t addr_step(uint64_t reg, int64_t delta, uint64_t mask)
{
	uint64_t next = (reg + (uint64_t)delta) & mask;
	return mask == 0xFFFF ? (reg & ~mask) | next : next;
}

/* The guest's memory could not be reached: a #PF with its error code when its own
 * tables say so (*faulted), else (not RAM) the guest ends. */
static enum exit_action string_fault(struct vcpu *v, int err, uint32_t pf, uint64_t la,
				     bool *faulted)
{
	if (err == -EFAULT && pf) {
		v->regs.cr2 = la;
		vcpu_inject(v, PF_VECTOR, true, pf);
		*faulted = true;
		return EXIT_RESUME;
	}
	return guest_kill(v->guest, "string I/O buffer at linear 0x%llx is not guest RAM (%d)",
			  (unsigned long long)la, err);
}

/* One element: memory to port (OUTS) or port to memory (INS). */
static enum exit_action string_one(struct vcpu *v, const struct guest_paging *p, unsigned port,
				   unsigned size, bool in, uint64_t la, bool *faulted)
{
	uint64_t val = 0, done;
	uint32_t pf = 0;
	int err = 0;
	if (!in)
		err = guest_linear_read(v->guest, p, la, &val, size, GW_CHECK, &done, &pf);
	if (err)
		return string_fault(v, err, pf, la, faulted);
	enum exit_action a = port_access(v, port, size, in, &val);
	if (a != EXIT_RESUME || !in)
		return a;
	err = guest_linear_write(v->guest, p, la, &val, size, GW_CHECK, &done, &pf);
	return err ? string_fault(v, err, pf, la, faulted) : EXIT_RESUME;
}

/*
 * INS/OUTS: up to STRING_BATCH elements from the linear address the exit gives, RSI or
 * RDI and RCX updated after each (so a fault or an ending leaves them as the CPU would);
 * RIP advances once RCX reaches 0 (or at once without REP).
 */
static enum exit_action exit_io_string(struct vcpu *v, unsigned port, unsigned size, bool in)
{
	bool rep = v->exit_qual & IOQ_REP;
	uint64_t mask = string_addr_mask();
	int64_t step = vmread(VMCS_GUEST_RFLAGS) & RFLAGS_DF ? -(int64_t)size : (int64_t)size;
	uint64_t la = vmread(VMCS_GUEST_LINEAR_ADDR_F), *index = in ? &v->regs.rdi : &v->regs.rsi;
	struct guest_paging p;
	vcpu_paging(&p);
	for (unsigned n = 0; n < STRING_BATCH; n++) {
		if (rep && !(v->regs.rcx & mask))
			break;
		bool faulted = false;
		enum exit_action a = string_one(v, &p, port, size, in, la, &faulted);
		if (a != EXIT_RESUME || faulted)
			return a; /* after a #PF the instruction restarts where it stopped */
		*index = addr_step(*index, step, mask);
		la += (uint64_t)step;
		if (!rep)
			break;
		v->regs.rcx = addr_step(v->regs.rcx, -1, mask);
	}
	if (!rep || !(v->regs.rcx & mask))
		vcpu_skip_insn(v);
	return EXIT_RESUME;
}

enum exit_action exit_io(struct vcpu *v)
{
	uint64_t q = v->exit_qual;
	unsigned port = (unsigned)(q >> 16) & 0xFFFF;
	bool in = q & IOQ_IN;
	unsigned size = (unsigned)(q & 7) + 1;
	if (q & IOQ_STRING)
		return exit_io_string(v, port, size, in);
	uint64_t mask = vdev_size_mask(size), val = v->regs.rax & mask;
	enum exit_action a = port_access(v, port, size, in, &val);
	if (a != EXIT_RESUME)
		return a;
	/* A 32-bit IN zero-extends into RAX; 8/16-bit ones keep the rest. */
	if (in)
		v->regs.rax = size == 4 ? val : (v->regs.rax & ~mask) | val;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}
