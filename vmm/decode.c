/*
 * The MMIO instruction decoder (decode.h): prefixes, then the opcode, then ModRM/SIB,
 * displacement and immediate, each read through a cursor that never passes the bytes
 * it was given nor the 15-byte limit. Byte layouts: SDM Vol 2A chapter 2 (2.1 format,
 * 2.1.5 tables 2-1 to 2-3 for ModRM/SIB, 2.2.1 REX) and the opcode maps of Vol 2D
 * appendix A. Knows nothing of vCPUs or devices; also evaluates the ALU forms.
 */
#include <keel/errno.h>

#include "decode.h"

#define REX_W 8
#define REX_R 4
#define REX_X 2
#define REX_B 1

/* The instruction being decoded: the byte cursor, prefixes seen, the ModRM fields. */
struct dec {
	const uint8_t *b;
	size_t len, pos;
	unsigned mode; /* 2, 4, 8: the code's default size */
	uint8_t rex;
	bool opsize, addrsize, repne, repe;
	int seg; /* override, or -1 */
	unsigned modrm_mod, modrm_reg, modrm_rm;
	struct decoded *d;
};

static int fail(struct dec *x, int err, const char *why)
{
	x->d->why = why;
	return err;
}

/* Reads n bytes little-endian into *v. -E2BIG past 15 bytes, -EFAULT past len. */
static int take(struct dec *x, unsigned n, uint64_t *v)
{
	if (x->pos + n > DECODE_MAX_LEN)
		return fail(x, -E2BIG, "instruction longer than 15 bytes");
	if (x->pos + n > x->len)
		return fail(x, -EFAULT, "instruction bytes end early");
	uint64_t r = 0;
	for (unsigned i = 0; i < n; i++)
		r |= (uint64_t)x->b[x->pos + i] << (8 * i);
	x->pos += n;
	*v = r;
	return 0;
}

static int64_t sext(uint64_t v, unsigned bytes)
{
	unsigned sh = 64 - 8 * bytes;
	return (int64_t)(v << sh) >> sh;
}

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

/* Legacy prefixes in any order, then REX (64-bit mode; a REX followed by a legacy
 * prefix is ignored: Vol 2A 2.2.1). Leaves the cursor on the opcode. */
static int prefixes(struct dec *x)
{
	static const uint8_t seg_prefix[6] = { 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65 };
	for (;;) {
		uint64_t b;
		int err = take(x, 1, &b);
		if (err)
			return err;
		bool legacy = true;
		if (b == 0x66)
			x->opsize = true;
		else if (b == 0x67)
			x->addrsize = true;
		else if (b == 0xF0)
			x->d->lock = true;
		else if (b == 0xF2)
			x->repne = true;
		else if (b == 0xF3)
			x->repe = true;
		else if (x->mode == 8 && (b & 0xF0) == 0x40)
			legacy = false;
		else {
			unsigned s = 0;
			while (s < 6 && seg_prefix[s] != b)
				s++;
			if (s == 6) {
				x->pos--; /* the opcode */
				return 0;
			}
			/* In 64-bit mode ES/CS/SS/DS overrides are ignored (Vol 1 3.3.7.1). */
			if (x->mode != 8 || s >= SEG_FS)
				x->seg = (int)s;
		}
		x->rex = legacy ? 0 : (uint8_t)b;
	}
}

/* Effective operand and address sizes: Vol 1 3.6 table 3-4, Vol 2A 2.2.1.2. */
static void sizes(struct dec *x)
{
	struct decoded *d = x->d;
	unsigned def = x->mode == 2 ? 2 : 4;
	d->op_size = (uint8_t)(x->rex & REX_W ? 8 : x->opsize ? 6 - def : def);
	if (x->mode == 8)
		d->addr_size = x->addrsize ? 4 : 8;
	else
		d->addr_size = (uint8_t)(x->addrsize ? 6 - def : def);
}

/* 16-bit addressing: Vol 2A 2.1.5 table 2-1. */
static int modrm16(struct dec *x, struct decode_mem *m)
{
	static const int8_t base[8] = { 3, 3, 5, 5, 6, 7, 5, 3 };
	static const int8_t index[8] = { 6, 7, 6, 7, -1, -1, -1, -1 };
	uint64_t disp = 0;
	int err = 0;
	m->base = base[x->modrm_rm];
	m->index = index[x->modrm_rm];
	if (x->modrm_mod == 0 && x->modrm_rm == 6) {
		m->base = DECODE_NO_REG;
		err = take(x, 2, &disp);
		m->disp = sext(disp, 2);
	} else if (x->modrm_mod) {
		unsigned n = x->modrm_mod == 1 ? 1 : 2;
		err = take(x, n, &disp);
		m->disp = sext(disp, n);
	}
	if (m->base == 5) /* BP-based: SS */
		m->seg = SEG_SS;
	return err;
}

/* The SIB byte: Vol 2A 2.1.5 table 2-3 (index 100 without REX.X: none; base 101 with
 * mod 00: disp32, no base, whatever REX.B says). */
static int sib(struct dec *x, struct decode_mem *m, bool *disp32)
{
	uint64_t s;
	int err = take(x, 1, &s);
	if (err)
		return err;
	unsigned idx = ((s >> 3) & 7) | (x->rex & REX_X ? 8 : 0);
	m->index = idx == 4 ? DECODE_NO_REG : (int8_t)idx;
	m->scale = (uint8_t)(1u << (s >> 6));
	if ((s & 7) == 5 && x->modrm_mod == 0) {
		m->base = DECODE_NO_REG;
		*disp32 = true;
	} else {
		m->base = (int8_t)((s & 7) | (x->rex & REX_B ? 1 : 0) << 3);
	}
	return 0;
}

/* 32/64-bit addressing: Vol 2A 2.1.5 table 2-2, 2.2.1.6 (RIP-relative in 64-bit mode). */
static int modrm32(struct dec *x, struct decode_mem *m)
{
	bool disp32 = x->modrm_mod == 2;
	int err = 0;
	if (x->modrm_rm == 4) {
		err = sib(x, m, &disp32);
	} else if (x->modrm_rm == 5 && x->modrm_mod == 0) {
		m->base = x->mode == 8 ? DECODE_RIP : DECODE_NO_REG;
		disp32 = true;
	} else {
		m->base = (int8_t)(x->modrm_rm | (x->rex & REX_B ? 8 : 0));
	}
	uint64_t disp = 0;
	if (!err && (disp32 || x->modrm_mod == 1)) {
		unsigned n = disp32 ? 4 : 1;
		err = take(x, n, &disp);
		m->disp = sext(disp, n);
	}
	if (m->base == 4 || m->base == 5) /* rSP/rBP-based: SS */
		m->seg = SEG_SS;
	return err;
}

/* A memory operand without registers yet, in segment seg. */
static struct decode_mem plain_mem(unsigned seg)
{
	return (struct decode_mem){
		.base = DECODE_NO_REG, .index = DECODE_NO_REG, .scale = 1, .seg = (uint8_t)seg
	};
}

/* The override if there was one, else def. */
static unsigned seg_or(const struct dec *x, unsigned def)
{
	return x->seg >= 0 ? (unsigned)x->seg : def;
}

/* Reads ModRM and the memory operand it names. -ENOTSUP for a register operand. */
static int modrm(struct dec *x)
{
	uint64_t b;
	int err = take(x, 1, &b);
	if (err)
		return err;
	x->modrm_mod = (unsigned)b >> 6;
	x->modrm_reg = ((unsigned)b >> 3) & 7;
	x->modrm_rm = (unsigned)b & 7;
	if (x->modrm_mod == 3)
		return fail(x, -ENOTSUP, "register operand: no memory access");
	struct decode_mem *m = &x->d->mem;
	*m = plain_mem(SEG_DS);
	err = x->d->addr_size == 2 ? modrm16(x, m) : modrm32(x, m);
	m->seg = (uint8_t)seg_or(x, m->seg);
	return err;
}

/* The register operand: number n (REX.R applied by the caller) of size bytes. Byte
 * registers 4-7 without any REX are AH, CH, DH, BH (Vol 2A 2.1.5 note, 2.2.1.2). */
static void set_reg(struct dec *x, unsigned n, unsigned size)
{
	struct decoded *d = x->d;
	d->reg_size = (uint8_t)size;
	d->high8 = size == 1 && !x->rex && n >= 4 && n < 8;
	d->reg = (int8_t)(d->high8 ? n - 4 : n);
}

static unsigned modrm_gpr(const struct dec *x)
{
	return x->modrm_reg | (x->rex & REX_R ? 8 : 0);
}

/* An immediate of n bytes (n = 4 for 64-bit operands), sign-extended. */
static int imm(struct dec *x, unsigned n)
{
	uint64_t v;
	int err = take(x, n, &v);
	x->d->has_imm = true;
	x->d->imm = (uint64_t)sext(v, n);
	return err;
}

static unsigned imm_size(unsigned op_size)
{
	return op_size == 2 ? 2 : 4;
}

/* 88/89/8A/8B: MOV between r/m and a register; bit 1 is the direction, bit 0 the width. */
static int op_mov_rm(struct dec *x, unsigned op)
{
	struct decoded *d = x->d;
	int err = modrm(x);
	d->size = op & 1 ? d->op_size : 1;
	d->kind = op & 2 ? DECODE_LOAD : DECODE_STORE;
	set_reg(x, modrm_gpr(x), d->size);
	return err;
}

/* C6 /0, C7 /0: MOV r/m, imm (imm32 sign-extended for 64-bit operands). */
static int op_mov_imm(struct dec *x, unsigned op)
{
	struct decoded *d = x->d;
	int err = modrm(x);
	if (err)
		return err;
	if (x->modrm_reg)
		return fail(x, -ENOEXEC, "C6/C7 with ModRM.reg other than 0");
	d->kind = DECODE_STORE;
	d->size = op & 1 ? d->op_size : 1;
	d->reg = DECODE_NO_REG;
	return imm(x, d->size == 1 ? 1 : imm_size(d->size));
}

/* A0-A3: MOV between rAX and moffs (an address-size offset, no ModRM). */
static int op_mov_moffs(struct dec *x, unsigned op)
{
	struct decoded *d = x->d;
	uint64_t off;
	int err = take(x, d->addr_size, &off);
	d->mem = plain_mem(seg_or(x, SEG_DS));
	d->mem.disp = (int64_t)off;
	d->size = op & 1 ? d->op_size : 1;
	d->kind = op & 2 ? DECODE_STORE : DECODE_LOAD;
	set_reg(x, 0, d->size);
	return err;
}

/* 0F B6/B7/BE/BF: MOVZX/MOVSX r, r/m8 or r/m16. */
static int op_movx(struct dec *x, unsigned op2)
{
	struct decoded *d = x->d;
	int err = modrm(x);
	d->kind = DECODE_LOAD;
	d->size = op2 & 1 ? 2 : 1;
	d->sign_extend = op2 & 8;
	set_reg(x, modrm_gpr(x), d->op_size);
	return err;
}

/* 63: MOVSXD r, r/m32 in 64-bit mode (r/m16 with 66; a plain 32-bit load without
 * REX.W). Elsewhere it is ARPL, not emulated. */
static int op_movsxd(struct dec *x)
{
	struct decoded *d = x->d;
	if (x->mode != 8)
		return fail(x, -ENOTSUP, "ARPL is not emulated");
	int err = modrm(x);
	d->kind = DECODE_LOAD;
	d->size = d->op_size == 8 ? 4 : d->op_size;
	d->sign_extend = d->op_size == 8;
	set_reg(x, modrm_gpr(x), d->op_size);
	return err;
}

/* A4/A5 MOVS, AA/AB STOS, AC/AD LODS: fixed registers, no ModRM. */
static int op_string(struct dec *x, unsigned op)
{
	struct decoded *d = x->d;
	d->kind = op >= 0xAC ? DECODE_LODS : op >= 0xAA ? DECODE_STOS : DECODE_MOVS;
	d->size = op & 1 ? d->op_size : 1;
	d->rep = x->repe || x->repne;
	/* the source's segment; STOS's destination is ES, no override */
	d->mem = plain_mem(d->kind == DECODE_STOS ? SEG_ES : seg_or(x, SEG_DS));
	if (d->kind == DECODE_MOVS)
		d->reg = DECODE_NO_REG;
	else
		set_reg(x, 0, d->size);
	d->mem_write = d->kind != DECODE_LODS;
	return 0;
}

/* 00-3B with low bits 0-3: op r/m, r (bit 1 clear) or op r, r/m; bit 0 the width. */
static int op_alu_rm(struct dec *x, unsigned op)
{
	struct decoded *d = x->d;
	int err = modrm(x);
	d->kind = DECODE_ALU;
	d->alu = (enum decode_alu)(op >> 3);
	d->size = op & 1 ? d->op_size : 1;
	d->mem_dest = !(op & 2);
	set_reg(x, modrm_gpr(x), d->size);
	return err;
}

/* 80/81/83 /n (op r/m, imm: imm8, imm16/32, imm8 sign-extended) and F6/F7 /0 (TEST). */
static int op_alu_imm(struct dec *x, unsigned op)
{
	struct decoded *d = x->d;
	int err = modrm(x);
	if (err)
		return err;
	bool test = op >= 0xF6;
	if (test && x->modrm_reg)
		return fail(x, -ENOTSUP, "F6/F7 other than TEST (NOT, NEG, MUL, DIV) not emulated");
	d->kind = DECODE_ALU;
	d->alu = test ? ALU_TEST : (enum decode_alu)x->modrm_reg;
	d->size = op & 1 ? d->op_size : 1;
	d->mem_dest = true;
	d->reg = DECODE_NO_REG;
	return imm(x, op == 0x83 || d->size == 1 ? 1 : imm_size(d->size));
}

/* 84/85: TEST r/m, r. */
static int op_test_rm(struct dec *x, unsigned op)
{
	int err = op_alu_rm(x, op & 1);
	x->d->alu = ALU_TEST;
	return err;
}

static int op_two_byte(struct dec *x)
{
	uint64_t op2;
	int err = take(x, 1, &op2);
	if (err)
		return err;
	if (op2 == 0xB6 || op2 == 0xB7 || op2 == 0xBE || op2 == 0xBF)
		return op_movx(x, (unsigned)op2);
	return fail(x, -ENOTSUP, "two-byte opcode not emulated");
}

static int opcode(struct dec *x, unsigned op)
{
	if (op < 0x40 && (op & 7) < 4)
		return op_alu_rm(x, op);
	switch (op) {
	case 0x0F:
		return op_two_byte(x);
	case 0x63:
		return op_movsxd(x);
	case 0x80:
	case 0x81:
	case 0x83:
	case 0xF6:
	case 0xF7:
		return op_alu_imm(x, op);
	case 0x84:
	case 0x85:
		return op_test_rm(x, op);
	case 0x88:
	case 0x89:
	case 0x8A:
	case 0x8B:
		return op_mov_rm(x, op);
	case 0xA0:
	case 0xA1:
	case 0xA2:
	case 0xA3:
		return op_mov_moffs(x, op);
	case 0xA4:
	case 0xA5:
	case 0xAA:
	case 0xAB:
	case 0xAC:
	case 0xAD:
		return op_string(x, op);
	case 0xC6:
	case 0xC7:
		return op_mov_imm(x, op);
	default:
		return fail(x, -ENOTSUP, "opcode not emulated");
	}
}

/* LOCK is allowed only on the read-modify-write ALU forms with a memory destination
 * (Vol 2A "LOCK": #UD otherwise). */
static bool lock_ok(const struct decoded *d)
{
	return d->kind == DECODE_ALU && d->mem_dest && d->alu != ALU_CMP && d->alu != ALU_TEST;
}

int decode_insn(const uint8_t *bytes, size_t len, unsigned mode, struct decoded *d)
{
	*d = (struct decoded){ .reg = DECODE_NO_REG };
	if (mode != 2 && mode != 4 && mode != 8) {
		d->why = "bad code size";
		return -EINVAL;
	}
	struct dec x = { .b = bytes, .len = len, .mode = mode, .seg = -1, .d = d };
	int err = prefixes(&x);
	if (err)
		return err;
	sizes(&x);
	uint64_t op;
	err = take(&x, 1, &op);
	if (!err)
		err = opcode(&x, (unsigned)op);
	if (err)
		return err;
	if (d->kind == DECODE_ALU)
		d->mem_write = d->mem_dest && d->alu != ALU_CMP && d->alu != ALU_TEST;
	else if (d->kind == DECODE_STORE)
		d->mem_write = true;
	if (d->lock && !lock_ok(d))
		return fail(&x, -ENOEXEC, "LOCK on an instruction that cannot take it");
	d->len = (uint8_t)x.pos;
	return 0;
}

uint64_t decode_mem_offset(const struct decoded *d, const uint64_t regs[16], uint64_t rip)
{
	const struct decode_mem *m = &d->mem;
	uint64_t a = (uint64_t)m->disp;
	if (m->base == DECODE_RIP)
		a += rip + d->len;
	else if (m->base >= 0)
		a += regs[m->base & 15];
	if (m->index >= 0)
		a += regs[m->index & 15] * m->scale;
	return a & size_mask(d->addr_size);
}

uint64_t decode_reg_write(uint64_t old, uint64_t val, unsigned size, bool high8)
{
	if (high8)
		return (old & ~0xFF00ull) | (val & 0xFF) << 8;
	if (size >= 4)
		return val & size_mask(size);
	return (old & ~size_mask(size)) | (val & size_mask(size));
}

uint64_t decode_reg_read(uint64_t r, unsigned size, bool high8)
{
	return high8 ? (r >> 8) & 0xFF : r & size_mask(size);
}

uint64_t decode_extend(uint64_t val, unsigned size, bool sign)
{
	return sign ? (uint64_t)sext(val, size) : val & size_mask(size);
}

/* ---- ALU evaluation: RFLAGS bits (Vol 1 3.4.3.1). */
#define FL_CF (1ull << 0)
#define FL_PF (1ull << 2)
#define FL_AF (1ull << 4)
#define FL_ZF (1ull << 6)
#define FL_SF (1ull << 7)
#define FL_OF (1ull << 11)

/* ZF, SF, PF of a result of size bytes (r already masked). */
static uint64_t zsp(uint64_t r, unsigned size)
{
	uint64_t f = r ? 0 : FL_ZF;
	if ((r >> (8 * size - 1)) & 1)
		f |= FL_SF;
	uint64_t p = r & 0xFF; /* PF: even parity of the low byte */
	p ^= p >> 4;
	p ^= p >> 2;
	p ^= p >> 1;
	if (!(p & 1))
		f |= FL_PF;
	return f;
}

uint64_t decode_alu_eval(enum decode_alu op, unsigned size, uint64_t a, uint64_t b, uint64_t rflags,
			 uint64_t *res)
{
	uint64_t mask = size_mask(size);
	unsigned top = 8 * size - 1;
	uint64_t cin = (op == ALU_ADC || op == ALU_SBB) ? rflags & FL_CF : 0, r, f = 0;
	a &= mask;
	b &= mask;
	switch (op) {
	case ALU_ADD:
	case ALU_ADC:
		r = (a + b + cin) & mask;
		f |= (((a & b) | ((a | b) & ~r)) >> top & 1) ? FL_CF : 0; /* carry out */
		f |= (((a ^ r) & (b ^ r)) >> top & 1) ? FL_OF : 0;
		f |= (a ^ b ^ r) & FL_AF;
		break;
	case ALU_SUB:
	case ALU_SBB:
	case ALU_CMP:
		r = (a - b - cin) & mask;
		f |= (((~a & b) | ((~a | b) & r)) >> top & 1) ? FL_CF : 0; /* borrow out */
		f |= (((a ^ b) & (a ^ r)) >> top & 1) ? FL_OF : 0;
		f |= (a ^ b ^ r) & FL_AF;
		break;
	default: /* OR, AND, XOR, TEST: CF = OF = 0, AF kept */
		r = op == ALU_OR ? a | b : op == ALU_XOR ? a ^ b : a & b;
		f |= rflags & FL_AF;
		break;
	}
	*res = r;
	f |= zsp(r, size);
	return (rflags & ~(FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)) | f;
}
