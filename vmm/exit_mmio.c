/*
 * MMIO emulation (exit_mmio.h): fetch the instruction at CS:RIP through the guest's own
 * paging (guest_linear.h), decode it (decode.h), perform its memory operand against the
 * device bus (dev/dev.h), write back what it writes (register, RFLAGS, rSI/rDI/rCX),
 * and step RIP past it. Knows no device.
 *
 * Policy, for instructions the CPU itself would refuse: an encoding the CPU raises #UD
 * for (only reachable if the code changed between the access and the fetch) gets #UD,
 * one longer than 15 bytes #GP(0). A valid instruction Keel does not emulate ends the
 * guest with its bytes: pretending it faulted would mislead the guest.
 *
 * Widths: the device gets the instruction's width (1, 2, 4, 8) and offset, aligned or
 * not, and decides (its handler may end the guest: "bad width"). An access that leaves
 * the device's range, or that started on the page before it (a straddling access),
 * ends the guest. ALU forms (even with LOCK) are a device read then a device write:
 * atomic for the guest's view of the device only if nothing else touches it meanwhile.
 */
#include <keel/errno.h>
#include <keel/printk.h>

#include "decode.h"
#include "exit_mmio.h"
#include "guest_linear.h"
#include "guest_mem.h"
#include "vcpu.h"

#define RFLAGS_DF (1ull << 10)
#define VEC_UD 6
#define VEC_PF 14
/* Elements of a REP string form done per exit; the guest re-runs it for the rest. */
#define STRING_BATCH 256

static const char *const acc_word[2] = { "read", "write" };

/* The code size of the vCPU: 8 in 64-bit mode (CS.L), else CS.D: 4, or 2 (SDM 3.4.5). */
static unsigned code_size(struct vcpu *v)
{
	if (vcpu_in_64bit_mode(v))
		return 8;
	return (vmread(VMCS_GUEST_CS_AR) >> 14) & 1 ? 4 : 2;
}

#define R(name) offsetof(struct vcpu_regs, name)
/* Register n (hardware numbering) in struct vcpu_regs; RSP (4) lives in the VMCS. */
static const uint8_t gpr_offset[16] = { R(rax), R(rcx), R(rdx), R(rbx), 0,	R(rbp),
					R(rsi), R(rdi), R(r8),	R(r9),	R(r10), R(r11),
					R(r12), R(r13), R(r14), R(r15) };

static void gpr_write(struct vcpu *v, unsigned n, uint64_t val)
{
	if ((n & 15) == 4)
		(void)vmwrite(VMCS_GUEST_RSP, val);
	else
		*(uint64_t *)((char *)&v->regs + gpr_offset[n & 15]) = val;
}

/* Writes val into register operand (reg, size, high8) with the width rules. */
static void reg_store(struct vcpu *v, const struct decoded *d, unsigned size, uint64_t val)
{
	uint64_t old = vcpu_gpr_read(v, (unsigned)d->reg);
	gpr_write(v, (unsigned)d->reg, decode_reg_write(old, val, size, d->high8));
}

static uint64_t reg_load(struct vcpu *v, const struct decoded *d)
{
	return decode_reg_read(vcpu_gpr_read(v, (unsigned)d->reg), d->size, d->high8);
}

/* A linear address of segment seg at offset off, wrapped outside 64-bit mode (where
 * only FS and GS have a base: SDM Vol 3A 3.4.4). */
static uint64_t linear(unsigned seg, uint64_t off, bool long64)
{
	bool based = !long64 || seg == SEG_FS || seg == SEG_GS;
	uint64_t la = (based ? vmread(VMCS_GUEST_ES_BASE + 2 * seg) : 0) + off;
	return long64 ? la : la & 0xFFFFFFFFull;
}

/* Ends the guest naming the instruction (its first bytes: the reason has 128 chars). */
static enum exit_action undecodable(struct vcpu *v, gpa_t gpa, const uint8_t *b, int n,
				    const char *why)
{
	char bytes[3 * 6 + 1] = "";
	for (int i = 0, at = 0; i < n && i < 6; i++)
		at +=
		    snprintf(bytes + at, sizeof(bytes) - (size_t)at, "%s%02x", i ? " " : "", b[i]);
	return guest_kill(
	    v->guest,
	    "MMIO at GPA 0x%llx by an instruction Keel does not emulate at RIP 0x%llx: %s (%s)",
	    (unsigned long long)gpa.v, (unsigned long long)v->rip, bytes, why);
}

/* Fetches and decodes; 0, or an error with *act what to do (fault injected or killed). */
static int fetch_decode(struct vcpu *v, gpa_t gpa, struct decoded *d, enum exit_action *act)
{
	uint8_t b[DECODE_MAX_LEN];
	uint32_t pf = 0;
	int n = vcpu_fetch_insn(v, b, DECODE_MAX_LEN, &pf);
	if (n <= 0) {
		*act = guest_kill(v->guest,
				  "MMIO at GPA 0x%llx: the instruction at RIP 0x%llx cannot be "
				  "fetched (error %d)",
				  (unsigned long long)gpa.v, (unsigned long long)v->rip, n);
		return -EFAULT;
	}
	int err = decode_insn(b, (size_t)n, code_size(v), d);
	*act = EXIT_RESUME;
	if (err == -ENOEXEC)
		vcpu_inject(v, VEC_UD, false, 0);
	else if (err == -E2BIG)
		vcpu_inject_gp(v);
	else if (err)
		*act = undecodable(v, gpa, b, n, d->why);
	return err;
}

/* The device access, ending the guest if it leaves the device's range. */
static enum exit_action dev_rw(struct vcpu *v, const struct vdev_range *r, gpa_t gpa, unsigned size,
			       bool write, uint64_t *val)
{
	enum exit_action a = EXIT_RESUME;
	if (gpa.v - r->base + size > r->len ||
	    !vdev_access(v, VDEV_MMIO, gpa.v, size, write, val, &a))
		return guest_kill(
		    v->guest, "MMIO %s of %u bytes at GPA 0x%llx leaves device '%s' at RIP 0x%llx",
		    acc_word[write], size, (unsigned long long)gpa.v, r->ops->name,
		    (unsigned long long)v->rip);
	return a;
}

/* The result of a MOV or ALU form once the memory operand was read (mem) if it is. */
static enum exit_action finish_rw(struct vcpu *v, const struct decoded *d,
				  const struct vdev_range *r, gpa_t gpa, uint64_t mem)
{
	if (d->kind == DECODE_LOAD) {
		reg_store(v, d, d->reg_size, decode_extend(mem, d->size, d->sign_extend));
		return EXIT_RESUME;
	}
	uint64_t other = d->has_imm ? d->imm : reg_load(v, d), res = other;
	if (d->kind == DECODE_ALU) {
		uint64_t a = d->mem_dest ? mem : other, b = d->mem_dest ? other : mem;
		uint64_t fl = vmread(VMCS_GUEST_RFLAGS);
		(void)vmwrite(VMCS_GUEST_RFLAGS, decode_alu_eval(d->alu, d->size, a, b, fl, &res));
		if (!d->mem_dest && d->alu != ALU_CMP && d->alu != ALU_TEST)
			reg_store(v, d, d->size, res);
	}
	return d->mem_write ? dev_rw(v, r, gpa, d->size, true, &res) : EXIT_RESUME;
}

/* MOV, MOVZX/MOVSX/MOVSXD, ALU: one memory operand, at gpa. */
static enum exit_action emulate_rw(struct vcpu *v, const struct decoded *d,
				   const struct vdev_range *r, gpa_t gpa)
{
	uint64_t regs[16] = { 0 }; /* only the operand's base and index are read */
	if (d->mem.base >= 0 && d->mem.base < 16)
		regs[d->mem.base] = vcpu_gpr_read(v, (unsigned)d->mem.base);
	if (d->mem.index >= 0)
		regs[d->mem.index] = vcpu_gpr_read(v, (unsigned)d->mem.index);
	uint64_t la = linear(d->mem.seg, decode_mem_offset(d, regs, v->rip), code_size(v) == 8);
	if ((la ^ gpa.v) & PAGE_MASK)
		return guest_kill(v->guest,
				  "MMIO %s at GPA 0x%llx straddles a page boundary (from linear "
				  "0x%llx) at RIP 0x%llx",
				  acc_word[d->mem_write], (unsigned long long)gpa.v,
				  (unsigned long long)la, (unsigned long long)v->rip);
	uint64_t mem = 0;
	enum exit_action a = EXIT_RESUME;
	if (d->kind != DECODE_STORE)
		a = dev_rw(v, r, gpa, d->size, false, &mem);
	if (a == EXIT_RESUME)
		a = finish_rw(v, d, r, gpa, mem);
	return a;
}

/* ---- string forms: each element through the guest's paging, device or RAM. */

struct str_ctx {
	struct vcpu *v;
	struct guest_paging p;
	const struct decoded *d;
	bool long64;
	uint32_t pf;
	uint64_t pf_la;
};

/* One element at linear la: the device claiming its GPA, else guest RAM. Returns 0,
 * -EFAULT with c->pf set (a #PF the guest must get), or -EIO with *a set (ended). */
static int str_access(struct str_ctx *c, uint64_t la, bool write, uint64_t *val,
		      enum exit_action *a)
{
	struct guest *g = c->v->guest;
	unsigned size = c->d->size, access = GW_CHECK | (write ? GW_WRITE : 0);
	if ((vmread(VMCS_GUEST_ES_AR + 2 * SEG_SS) >> 5 & 3) == 3)
		access |= GW_USER;
	gpa_t gpa;
	int err = guest_linear_translate(g, &c->p, la, access, &gpa, &c->pf);
	if (err) {
		c->pf_la = la;
		if (c->pf)
			return -EFAULT;
		*a = guest_kill(g, "string MMIO: linear 0x%llx does not translate (error %d)",
				(unsigned long long)la, err);
		return -EIO;
	}
	const struct vdev_range *r = vdev_find(g->devices, VDEV_MMIO, gpa.v);
	if (r) {
		*a = dev_rw(c->v, r, gpa, size, write, val);
		return *a == EXIT_RESUME ? 0 : -EIO;
	}
	err = write ? guest_mem_write(g, gpa, val, size) : guest_mem_read(g, gpa, val, size);
	if (err) {
		*a = guest_kill(g, "string MMIO %s at GPA 0x%llx: neither RAM nor a device",
				acc_word[write], (unsigned long long)gpa.v);
		return -EIO;
	}
	return 0;
}

/* One element of STOS/LODS/MOVS at rSI/rDI offsets si/di. */
static int str_element(struct str_ctx *c, uint64_t si, uint64_t di, enum exit_action *a)
{
	const struct decoded *d = c->d;
	uint64_t val = 0;
	int err = 0;
	if (d->kind == DECODE_STOS)
		val = decode_reg_read(c->v->regs.rax, d->size, false);
	else
		err = str_access(c, linear(d->mem.seg, si, c->long64), false, &val, a);
	if (!err && d->kind == DECODE_LODS)
		c->v->regs.rax = decode_reg_write(c->v->regs.rax, val, d->size, false);
	else if (!err)
		err = str_access(c, linear(SEG_ES, di, c->long64), true, &val, a);
	return err;
}

/* STOS/LODS/MOVS, with REP up to STRING_BATCH elements per exit (SDM Vol 2B "REP"). */
static enum exit_action emulate_string(struct vcpu *v, const struct decoded *d)
{
	struct str_ctx c = { .v = v, .d = d, .long64 = code_size(v) == 8 };
	vcpu_paging(&c.p);
	unsigned as = d->addr_size;
	uint64_t mask = as == 8 ? ~0ull : (1ull << (8 * as)) - 1;
	uint64_t si = v->regs.rsi & mask, di = v->regs.rdi & mask, count = 1;
	uint64_t step = vmread(VMCS_GUEST_RFLAGS) & RFLAGS_DF ? -(uint64_t)d->size : d->size;
	if (d->rep)
		count = v->regs.rcx & mask;
	enum exit_action a = EXIT_RESUME;
	unsigned done = 0;
	int err = 0;
	while (count && done < STRING_BATCH) {
		err = str_element(&c, si, di, &a);
		if (err)
			break;
		si = (si + step) & mask;
		di = (di + step) & mask;
		count--;
		done++;
	}
	if (err == -EIO)
		return a;
	v->regs.rsi = decode_reg_write(v->regs.rsi, si, as, false);
	v->regs.rdi = decode_reg_write(v->regs.rdi, di, as, false);
	if (d->rep)
		v->regs.rcx = decode_reg_write(v->regs.rcx, count, as, false);
	if (err && !done) { /* the guest's own #PF, as the CPU would raise it */
		v->regs.cr2 = c.pf_la;
		vcpu_inject(v, VEC_PF, true, c.pf);
	} else if (!err && !count) {
		vcpu_skip_insn(v);
	}
	return EXIT_RESUME; /* otherwise RIP stays: the rest runs again */
}

enum exit_action exit_mmio(struct vcpu *v, const struct vdev_range *r, gpa_t gpa)
{
	struct decoded d;
	enum exit_action a;
	if (fetch_decode(v, gpa, &d, &a))
		return a;
	vdev_count_mmio(v->guest->devices, r);
	v->insn_len = d.len; /* not an exit that reports it (SDM Vol 3C 28.2.5) */
	if (d.kind == DECODE_STOS || d.kind == DECODE_LODS || d.kind == DECODE_MOVS)
		return emulate_string(v, &d);
	a = emulate_rw(v, &d, r, gpa);
	if (a == EXIT_RESUME)
		vcpu_skip_insn(v);
	return a;
}
