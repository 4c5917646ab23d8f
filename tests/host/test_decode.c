/*
 * Host tests of the MMIO instruction decoder (vmm/decode.c). Three sources of truth:
 * a table of encodings written by hand from the SDM's opcode maps and ModRM/SIB tables
 * (Vol 2A 2.1.5, Vol 2D appendix A), each with its expected decoding as text; every
 * emulated form under every combination of prefixes, checked against the prefix rules
 * (Vol 1 3.6, Vol 2A 2.2.1); and the host CPU itself for the ALU's flags. Random byte
 * strings (100,000) must never crash or read past the bytes given: each is decoded from
 * a heap copy of exactly its length, so ASan sees any over-read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/compiler.h>
#include <keel/errno.h>

#include "decode.h"
#include "frame_fake.h"

static const char *const reg64[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
				       "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };
static const char *const high8[4] = { "ah", "ch", "dh", "bh" };
static const char *const seg_name[6] = { "es", "cs", "ss", "ds", "fs", "gs" };
static const char *const kind_name[6] = { "load", "store", "alu", "stos", "lods", "movs" };
static const char *const alu_name[9] = { "add", "or",  "adc", "sbb", "and",
					 "sub", "xor", "cmp", "test" };

static const char *reg_text(int r)
{
	return r == DECODE_RIP ? "rip" : r >= 0 && r < 16 ? reg64[r] : "-";
}

/* The decoding as one line: what the table's expectations are written in. */
static void describe(const struct decoded *d, char *buf, size_t size)
{
	const struct decode_mem *m = &d->mem;
	char imm[32] = "";
	if (d->has_imm)
		snprintf(imm, sizeof(imm), " imm=%llx", (unsigned long long)d->imm);
	snprintf(buf, size,
		 "%s%s%s s=%u r=%s rs=%u%s%s m=%s:%s+%s*%u%+lld a=%u o=%u len=%u%s%s%s%s",
		 kind_name[d->kind], d->kind == DECODE_ALU ? "-" : "",
		 d->kind == DECODE_ALU ? alu_name[d->alu] : "", d->size,
		 d->high8 ? high8[d->reg & 3] : reg_text(d->reg), d->reg_size, imm,
		 d->sign_extend ? " sx" : "", seg_name[m->seg % 6], reg_text(m->base),
		 reg_text(m->index), m->scale, (long long)m->disp, d->addr_size, d->op_size, d->len,
		 d->mem_dest ? " md" : "", d->mem_write ? " w" : "", d->rep ? " rep" : "",
		 d->lock ? " lock" : "");
}

/* Parses "89 03" into bytes; returns the count. */
static size_t hex_bytes(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	char *end;
	for (;;) {
		unsigned long v = strtoul(s, &end, 16);
		if (end == s || n == cap)
			return n;
		out[n++] = (uint8_t)v;
		s = end;
	}
}

/* Decodes exactly n bytes from a heap copy of that size (ASan: no over-read). */
static int decode_exact(const uint8_t *bytes, size_t n, unsigned mode, struct decoded *d)
{
	uint8_t *copy = malloc(n ? n : 1);
	memcpy(copy, bytes, n);
	int err = decode_insn(copy, n, mode, d);
	free(copy);
	return err;
}

struct row {
	unsigned mode;
	const char *hex;
	const char *want; /* describe() text, or an error name */
};

/* Written from the SDM, not from the decoder: Vol 2A tables 2-1 to 2-3, Vol 2D A.3. */
static const struct row table[] = {
	/* 64-bit mode: MOV r/m <-> reg, operand sizes, byte registers with and without REX */
	{ 8, "89 03", "store s=4 r=rax rs=4 m=ds:rbx+-*1+0 a=8 o=4 len=2 w" },
	{ 8, "48 89 03", "store s=8 r=rax rs=8 m=ds:rbx+-*1+0 a=8 o=8 len=3 w" },
	{ 8, "66 89 03", "store s=2 r=rax rs=2 m=ds:rbx+-*1+0 a=8 o=2 len=3 w" },
	{ 8, "88 23", "store s=1 r=ah rs=1 m=ds:rbx+-*1+0 a=8 o=4 len=2 w" },
	{ 8, "40 88 23", "store s=1 r=rsp rs=1 m=ds:rbx+-*1+0 a=8 o=4 len=3 w" },
	{ 8, "44 88 23", "store s=1 r=r12 rs=1 m=ds:rbx+-*1+0 a=8 o=4 len=3 w" },
	{ 8, "41 88 23", "store s=1 r=rsp rs=1 m=ds:r11+-*1+0 a=8 o=4 len=3 w" },
	{ 8, "8A 3B", "load s=1 r=bh rs=1 m=ds:rbx+-*1+0 a=8 o=4 len=2" },
	{ 8, "4C 8B 7B 08", "load s=8 r=r15 rs=8 m=ds:rbx+-*1+8 a=8 o=8 len=4" },
	/* RIP-relative, EIP-relative with 67, absolute disp32 through SIB */
	{ 8, "8B 05 78 56 34 12", "load s=4 r=rax rs=4 m=ds:rip+-*1+305419896 a=8 o=4 len=6" },
	{ 8, "67 8B 05 78 56 34 12", "load s=4 r=rax rs=4 m=ds:rip+-*1+305419896 a=4 o=4 len=7" },
	{ 8, "8B 04 25 00 00 C0 FE", "load s=4 r=rax rs=4 m=ds:-+-*1-20971520 a=8 o=4 len=7" },
	/* SIB: rSP/rBP bases default to SS, r12/r13 do not; index 100 is none unless REX.X */
	{ 8, "8B 44 24 08", "load s=4 r=rax rs=4 m=ss:rsp+-*1+8 a=8 o=4 len=4" },
	{ 8, "8B 45 F8", "load s=4 r=rax rs=4 m=ss:rbp+-*1-8 a=8 o=4 len=3" },
	{ 8, "41 8B 45 F8", "load s=4 r=rax rs=4 m=ds:r13+-*1-8 a=8 o=4 len=4" },
	{ 8, "41 8B 04 24", "load s=4 r=rax rs=4 m=ds:r12+-*1+0 a=8 o=4 len=4" },
	{ 8, "42 8B 04 24", "load s=4 r=rax rs=4 m=ss:rsp+r12*1+0 a=8 o=4 len=4" },
	{ 8, "8B 04 8D 00 10 00 00", "load s=4 r=rax rs=4 m=ds:-+rcx*4+4096 a=8 o=4 len=7" },
	{ 8, "43 8B 04 8D 00 10 00 00", "load s=4 r=rax rs=4 m=ds:-+r9*4+4096 a=8 o=4 len=8" },
	{ 8, "8B 84 98 00 01 00 00", "load s=4 r=rax rs=4 m=ds:rax+rbx*4+256 a=8 o=4 len=7" },
	{ 8, "8B 4C D8 F0", "load s=4 r=rcx rs=4 m=ds:rax+rbx*8-16 a=8 o=4 len=4" },
	/* MOV r/m, imm */
	{ 8, "C6 03 7F", "store s=1 r=- rs=0 imm=7f m=ds:rbx+-*1+0 a=8 o=4 len=3 w" },
	{ 8, "C7 03 FF FF FF FF",
	  "store s=4 r=- rs=0 imm=ffffffffffffffff m=ds:rbx+-*1+0 a=8 o=4 len=6 w" },
	{ 8, "48 C7 03 00 00 00 80",
	  "store s=8 r=- rs=0 imm=ffffffff80000000 m=ds:rbx+-*1+0 a=8 o=8 len=7 w" },
	{ 8, "66 C7 03 34 12", "store s=2 r=- rs=0 imm=1234 m=ds:rbx+-*1+0 a=8 o=2 len=5 w" },
	{ 8, "C7 05 F0 FF FF FF 01 00 00 00",
	  "store s=4 r=- rs=0 imm=1 m=ds:rip+-*1-16 a=8 o=4 len=10 w" },
	{ 8, "C6 4B 01 05", "-ENOEXEC" },
	/* moffs: an address-size offset */
	{ 8, "A1 00 00 C0 FE 00 00 00 00",
	  "load s=4 r=rax rs=4 m=ds:-+-*1+4273995776 a=8 o=4 len=9" },
	{ 8, "67 A1 00 00 C0 FE", "load s=4 r=rax rs=4 m=ds:-+-*1+4273995776 a=4 o=4 len=6" },
	{ 8, "48 A3 00 00 C0 FE 00 00 00 00",
	  "store s=8 r=rax rs=8 m=ds:-+-*1+4273995776 a=8 o=8 len=10 w" },
	{ 8, "A2 10 00 00 00 00 00 00 00", "store s=1 r=rax rs=1 m=ds:-+-*1+16 a=8 o=4 len=9 w" },
	{ 8, "65 A0 10 00 00 00 00 00 00 00", "load s=1 r=rax rs=1 m=gs:-+-*1+16 a=8 o=4 len=10" },
	/* MOVZX, MOVSX, MOVSXD */
	{ 8, "0F B6 03", "load s=1 r=rax rs=4 m=ds:rbx+-*1+0 a=8 o=4 len=3" },
	{ 8, "48 0F BF 03", "load s=2 r=rax rs=8 sx m=ds:rbx+-*1+0 a=8 o=8 len=4" },
	{ 8, "66 0F BE 03", "load s=1 r=rax rs=2 sx m=ds:rbx+-*1+0 a=8 o=2 len=4" },
	{ 8, "0F B7 43 10", "load s=2 r=rax rs=4 m=ds:rbx+-*1+16 a=8 o=4 len=4" },
	{ 8, "44 0F B6 23", "load s=1 r=r12 rs=4 m=ds:rbx+-*1+0 a=8 o=4 len=4" },
	{ 8, "48 63 03", "load s=4 r=rax rs=8 sx m=ds:rbx+-*1+0 a=8 o=8 len=3" },
	{ 8, "63 03", "load s=4 r=rax rs=4 m=ds:rbx+-*1+0 a=8 o=4 len=2" },
	/* strings */
	{ 8, "F3 AA", "stos s=1 r=rax rs=1 m=es:-+-*1+0 a=8 o=4 len=2 w rep" },
	{ 8, "F3 48 AB", "stos s=8 r=rax rs=8 m=es:-+-*1+0 a=8 o=8 len=3 w rep" },
	{ 8, "AB", "stos s=4 r=rax rs=4 m=es:-+-*1+0 a=8 o=4 len=1 w" },
	{ 8, "F2 AB", "stos s=4 r=rax rs=4 m=es:-+-*1+0 a=8 o=4 len=2 w rep" },
	{ 8, "F3 A4", "movs s=1 r=- rs=0 m=ds:-+-*1+0 a=8 o=4 len=2 w rep" },
	{ 8, "64 F3 A5", "movs s=4 r=- rs=0 m=fs:-+-*1+0 a=8 o=4 len=3 w rep" },
	{ 8, "64 AA", "stos s=1 r=rax rs=1 m=es:-+-*1+0 a=8 o=4 len=2 w" },
	{ 8, "AC", "lods s=1 r=rax rs=1 m=ds:-+-*1+0 a=8 o=4 len=1" },
	{ 8, "67 66 AD", "lods s=2 r=rax rs=2 m=ds:-+-*1+0 a=4 o=2 len=3" },
	/* read-modify-write and compare */
	{ 8, "01 03", "alu-add s=4 r=rax rs=4 m=ds:rbx+-*1+0 a=8 o=4 len=2 md w" },
	{ 8, "F0 01 03", "alu-add s=4 r=rax rs=4 m=ds:rbx+-*1+0 a=8 o=4 len=3 md w lock" },
	{ 8, "F0 39 03", "-ENOEXEC" },
	{ 8, "F0 89 03", "-ENOEXEC" },
	{ 8, "F0 3B 03", "-ENOEXEC" },
	{ 8, "3B 03", "alu-cmp s=4 r=rax rs=4 m=ds:rbx+-*1+0 a=8 o=4 len=2" },
	{ 8, "22 03", "alu-and s=1 r=rax rs=1 m=ds:rbx+-*1+0 a=8 o=4 len=2" },
	{ 8, "83 0B 01", "alu-or s=4 r=- rs=0 imm=1 m=ds:rbx+-*1+0 a=8 o=4 len=3 md w" },
	{ 8, "81 23 00 FF 00 00",
	  "alu-and s=4 r=- rs=0 imm=ff00 m=ds:rbx+-*1+0 a=8 o=4 len=6 md w" },
	{ 8, "80 3B 80",
	  "alu-cmp s=1 r=- rs=0 imm=ffffffffffffff80 m=ds:rbx+-*1+0 a=8 o=4 len=3 md" },
	{ 8, "F6 03 01", "alu-test s=1 r=- rs=0 imm=1 m=ds:rbx+-*1+0 a=8 o=4 len=3 md" },
	{ 8, "85 03", "alu-test s=4 r=rax rs=4 m=ds:rbx+-*1+0 a=8 o=4 len=2 md" },
	{ 8, "48 83 2B 01", "alu-sub s=8 r=- rs=0 imm=1 m=ds:rbx+-*1+0 a=8 o=8 len=4 md w" },
	{ 8, "66 81 33 34 12", "alu-xor s=2 r=- rs=0 imm=1234 m=ds:rbx+-*1+0 a=8 o=2 len=5 md w" },
	{ 8, "F7 13", "-ENOTSUP" },
	{ 8, "89 C3", "-ENOTSUP" },
	{ 8, "0F 10 03", "-ENOTSUP" },
	{ 8, "86 03", "-ENOTSUP" },
	{ 8, "04 01", "-ENOTSUP" },
	/* prefixes: REX before a legacy prefix is void; ES/CS/SS/DS overrides are void */
	{ 8, "48 66 89 03", "store s=2 r=rax rs=2 m=ds:rbx+-*1+0 a=8 o=2 len=4 w" },
	{ 8, "66 48 89 03", "store s=8 r=rax rs=8 m=ds:rbx+-*1+0 a=8 o=8 len=4 w" },
	{ 8, "2E 89 03", "store s=4 r=rax rs=4 m=ds:rbx+-*1+0 a=8 o=4 len=3 w" },
	{ 8, "36 89 45 00", "store s=4 r=rax rs=4 m=ss:rbp+-*1+0 a=8 o=4 len=4 w" },
	{ 8, "65 89 03", "store s=4 r=rax rs=4 m=gs:rbx+-*1+0 a=8 o=4 len=3 w" },
	{ 8, "", "-EFAULT" },
	{ 8, "89", "-EFAULT" },
	{ 8, "8B 04", "-EFAULT" },
	{ 8, "8B 80 00 00 00", "-EFAULT" },
	{ 8, "66 66 66 66 66 66 66 66 66 66 66 66 66 89 03",
	  "store s=2 r=rax rs=2 m=ds:rbx+-*1+0 a=8 o=2 len=15 w" },
	{ 8, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 89 03", "-E2BIG" },
	{ 8, "66 66 66 66 66 66 66 66 66 66 66 66 66 89 43 10", "-E2BIG" },
	/* 32-bit code */
	{ 4, "89 03", "store s=4 r=rax rs=4 m=ds:rbx+-*1+0 a=4 o=4 len=2 w" },
	{ 4, "8B 05 00 00 C0 FE", "load s=4 r=rax rs=4 m=ds:-+-*1-20971520 a=4 o=4 len=6" },
	{ 4, "66 8B 05 00 00 C0 FE", "load s=2 r=rax rs=2 m=ds:-+-*1-20971520 a=4 o=2 len=7" },
	{ 4, "67 8B 47 10", "load s=4 r=rax rs=4 m=ds:rbx+-*1+16 a=2 o=4 len=4" },
	{ 4, "67 8B 42 10", "load s=4 r=rax rs=4 m=ss:rbp+rsi*1+16 a=2 o=4 len=4" },
	{ 4, "67 8B 06 00 10", "load s=4 r=rax rs=4 m=ds:-+-*1+4096 a=2 o=4 len=5" },
	{ 4, "A1 00 00 C0 FE", "load s=4 r=rax rs=4 m=ds:-+-*1+4273995776 a=4 o=4 len=5" },
	{ 4, "40 89 03", "-ENOTSUP" },
	{ 4, "63 03", "-ENOTSUP" },
	{ 4, "F3 AB", "stos s=4 r=rax rs=4 m=es:-+-*1+0 a=4 o=4 len=2 w rep" },
	{ 4, "66 F3 AB", "stos s=2 r=rax rs=2 m=es:-+-*1+0 a=4 o=2 len=3 w rep" },
	{ 4, "88 3B", "store s=1 r=bh rs=1 m=ds:rbx+-*1+0 a=4 o=4 len=2 w" },
	{ 4, "3E 89 45 00", "store s=4 r=rax rs=4 m=ds:rbp+-*1+0 a=4 o=4 len=4 w" },
	{ 4, "89 45 00", "store s=4 r=rax rs=4 m=ss:rbp+-*1+0 a=4 o=4 len=3 w" },
	{ 4, "2E 89 03", "store s=4 r=rax rs=4 m=cs:rbx+-*1+0 a=4 o=4 len=3 w" },
	{ 4, "0F BF 4C 24 04", "load s=2 r=rcx rs=4 sx m=ss:rsp+-*1+4 a=4 o=4 len=5" },
	/* 16-bit code */
	{ 2, "89 07", "store s=2 r=rax rs=2 m=ds:rbx+-*1+0 a=2 o=2 len=2 w" },
	{ 2, "66 89 07", "store s=4 r=rax rs=4 m=ds:rbx+-*1+0 a=2 o=4 len=3 w" },
	{ 2, "8B 46 FE", "load s=2 r=rax rs=2 m=ss:rbp+-*1-2 a=2 o=2 len=3" },
	{ 2, "8B 00", "load s=2 r=rax rs=2 m=ds:rbx+rsi*1+0 a=2 o=2 len=2" },
	{ 2, "8B 8B 00 F0", "load s=2 r=rcx rs=2 m=ss:rbp+rdi*1-4096 a=2 o=2 len=4" },
	{ 2, "67 8B 03", "load s=2 r=rax rs=2 m=ds:rbx+-*1+0 a=4 o=2 len=3" },
	{ 2, "A1 20 00", "load s=2 r=rax rs=2 m=ds:-+-*1+32 a=2 o=2 len=3" },
	{ 2, "F3 AB", "stos s=2 r=rax rs=2 m=es:-+-*1+0 a=2 o=2 len=2 w rep" },
	{ 2, "C7 06 00 10 34 12", "store s=2 r=- rs=0 imm=1234 m=ds:-+-*1+4096 a=2 o=2 len=6 w" },
	{ 2, "66 C7 06 00 10 78 56 34 12",
	  "store s=4 r=- rs=0 imm=12345678 m=ds:-+-*1+4096 a=2 o=4 len=9 w" },
	{ 2, "26 8A 27", "load s=1 r=ah rs=1 m=es:rbx+-*1+0 a=2 o=2 len=3" },
	{ 3, "89 03", "-EINVAL" },
};

static const char *err_name(int err)
{
	switch (err) {
	case -EFAULT:
		return "-EFAULT";
	case -E2BIG:
		return "-E2BIG";
	case -ENOEXEC:
		return "-ENOEXEC";
	case -ENOTSUP:
		return "-ENOTSUP";
	case -EINVAL:
		return "-EINVAL";
	default:
		return "-E?";
	}
}

static bool sdm_table_decodes_as_written(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		uint8_t b[32];
		size_t n = hex_bytes(table[i].hex, b, sizeof(b));
		struct decoded d;
		char got[160];
		int err = decode_exact(b, n, table[i].mode, &d);
		if (err)
			snprintf(got, sizeof(got), "%s", err_name(err));
		else
			describe(&d, got, sizeof(got));
		if (strcmp(got, table[i].want)) {
			snprintf(fake_why, sizeof(fake_why), "[%u] %s: got '%s' want '%s'",
				 table[i].mode * 8, table[i].hex, got, table[i].want);
			return false;
		}
		if (err && !d.why)
			return snprintf(fake_why, sizeof(fake_why), "%s: no reason", table[i].hex),
			       false;
	}
	return true;
}

/* ---- every form under every prefix combination, against the prefix rules ---- */

/* One emulated form: opcode bytes, ModRM's reg field, the immediate's kind and what
 * the instruction is. */
enum imm_kind { IMM_NONE, IMM_8, IMM_Z }; /* IMM_Z: 2 bytes for o=2, else 4 */
struct form {
	uint8_t op[2];
	uint8_t op_len;
	uint8_t reg_field;
	enum imm_kind imm;
	enum decode_kind kind;
	int size; /* 1, 2, 4 fixed; 0: the operand size; -1: MOVSXD (4, 2 with o=2) */
	bool lockable, mode64_only, reg_byte;
};

static const struct form forms[] = {
	{ { 0x88 }, 1, 4, IMM_NONE, DECODE_STORE, 1, false, false, true },
	{ { 0x89 }, 1, 2, IMM_NONE, DECODE_STORE, 0, false, false, false },
	{ { 0x8A }, 1, 4, IMM_NONE, DECODE_LOAD, 1, false, false, true },
	{ { 0x8B }, 1, 2, IMM_NONE, DECODE_LOAD, 0, false, false, false },
	{ { 0xC6 }, 1, 0, IMM_8, DECODE_STORE, 1, false, false, false },
	{ { 0xC7 }, 1, 0, IMM_Z, DECODE_STORE, 0, false, false, false },
	{ { 0x0F, 0xB6 }, 2, 2, IMM_NONE, DECODE_LOAD, 1, false, false, false },
	{ { 0x0F, 0xB7 }, 2, 2, IMM_NONE, DECODE_LOAD, 2, false, false, false },
	{ { 0x0F, 0xBE }, 2, 2, IMM_NONE, DECODE_LOAD, 1, false, false, false },
	{ { 0x0F, 0xBF }, 2, 2, IMM_NONE, DECODE_LOAD, 2, false, false, false },
	{ { 0x63 }, 1, 2, IMM_NONE, DECODE_LOAD, -1, false, true, false },
	{ { 0x00 }, 1, 4, IMM_NONE, DECODE_ALU, 1, true, false, true },
	{ { 0x09 }, 1, 2, IMM_NONE, DECODE_ALU, 0, true, false, false },
	{ { 0x12 }, 1, 4, IMM_NONE, DECODE_ALU, 1, false, false, true },
	{ { 0x1B }, 1, 2, IMM_NONE, DECODE_ALU, 0, false, false, false },
	{ { 0x21 }, 1, 2, IMM_NONE, DECODE_ALU, 0, true, false, false },
	{ { 0x28 }, 1, 4, IMM_NONE, DECODE_ALU, 1, true, false, true },
	{ { 0x31 }, 1, 2, IMM_NONE, DECODE_ALU, 0, true, false, false },
	{ { 0x38 }, 1, 4, IMM_NONE, DECODE_ALU, 1, false, false, true },
	{ { 0x3B }, 1, 2, IMM_NONE, DECODE_ALU, 0, false, false, false },
	{ { 0x80 }, 1, 1, IMM_8, DECODE_ALU, 1, true, false, false },
	{ { 0x81 }, 1, 5, IMM_Z, DECODE_ALU, 0, true, false, false },
	{ { 0x83 }, 1, 7, IMM_8, DECODE_ALU, 0, false, false, false },
	{ { 0x84 }, 1, 4, IMM_NONE, DECODE_ALU, 1, false, false, true },
	{ { 0x85 }, 1, 2, IMM_NONE, DECODE_ALU, 0, false, false, false },
	{ { 0xF6 }, 1, 0, IMM_8, DECODE_ALU, 1, false, false, false },
	{ { 0xF7 }, 1, 0, IMM_Z, DECODE_ALU, 0, false, false, false },
};

enum { P_66 = 1, P_67 = 2, P_FS = 4, P_CS = 8, P_LOCK = 16, P_REP = 32, P_COUNT = 64 };

/* The sizes the SDM gives for a prefix set (Vol 1 3.6 table 3-4, Vol 2A 2.2.1.2). */
static unsigned want_op_size(unsigned mode, unsigned p, unsigned rex)
{
	if (rex & 8)
		return 8;
	unsigned def = mode == 2 ? 2 : 4;
	return p & P_66 ? (def == 2 ? 4 : 2) : def;
}

static unsigned want_addr_size(unsigned mode, unsigned p)
{
	if (mode == 8)
		return p & P_67 ? 4 : 8;
	return p & P_67 ? (mode == 2 ? 4 : 2) : mode;
}

/* Builds prefixes + REX + opcode + ModRM [rbx+disp8] (16-bit: [bp+di+disp8]) + imm. */
static size_t build(const struct form *f, unsigned p, unsigned rex, uint8_t *b)
{
	size_t n = 0;
	static const uint8_t pre[6] = { 0x66, 0x67, 0x64, 0x2E, 0xF0, 0xF3 };
	for (unsigned i = 0; i < 6; i++)
		if (p & (1u << i))
			b[n++] = pre[i];
	if (rex)
		b[n++] = (uint8_t)rex;
	for (unsigned i = 0; i < f->op_len; i++)
		b[n++] = f->op[i];
	b[n++] = (uint8_t)(0x43 | f->reg_field << 3);
	b[n++] = 0x10;
	for (unsigned i = 0; i < 4; i++) /* spare immediate bytes: 0x80 0x81 0x82 0x83 */
		b[n++] = (uint8_t)(0x80 + i);
	return n;
}

static unsigned want_imm_len(const struct form *f, unsigned osize)
{
	return f->imm == IMM_8 ? 1 : f->imm == IMM_Z ? (osize == 2 ? 2 : 4) : 0;
}

/* The checks of one combination; false with fake_why set on a mismatch. */
static bool check_combo(const struct form *f, unsigned mode, unsigned p, unsigned rex)
{
	uint8_t b[32];
	size_t n = build(f, p, rex, b);
	struct decoded d;
	int err = decode_exact(b, n, mode, &d);
	unsigned os = want_op_size(mode, p, rex), as = want_addr_size(mode, p);
	unsigned imm_len = want_imm_len(f, os);
	bool lock_bad = (p & P_LOCK) && !f->lockable;
	int want_err = (f->mode64_only && mode != 8) ? -ENOTSUP : lock_bad ? -ENOEXEC : 0;
	size_t want_len = n - 4 + imm_len;
	unsigned want_size = f->size > 0 ? (unsigned)f->size : f->size == 0 ? os : os == 8 ? 4 : os;
	int want_base = as == 2 ? 5 : 3 | (rex & 1) << 3;
	/* The last override counts (CS comes after FS here); a void one in 64-bit mode
	 * does not displace FS. */
	unsigned want_seg = (p & P_CS) && mode != 8 ? SEG_CS
			    : p & P_FS		    ? SEG_FS
			    : as == 2		    ? SEG_SS
						    : SEG_DS;
	if (err != want_err)
		snprintf(fake_why, sizeof(fake_why), "err %d want %d", err, want_err);
	else if (!err && (d.len != want_len || d.size != want_size || d.op_size != os ||
			  d.addr_size != as || d.kind != f->kind))
		snprintf(fake_why, sizeof(fake_why), "len %u/%zu size %u/%u os %u/%u as %u/%u",
			 d.len, want_len, d.size, want_size, d.op_size, os, d.addr_size, as);
	else if (!err && (d.mem.base != want_base || d.mem.disp != 0x10 || d.mem.seg != want_seg))
		snprintf(fake_why, sizeof(fake_why), "base %d/%d seg %u/%u", d.mem.base, want_base,
			 d.mem.seg, want_seg);
	else if (!err && imm_len &&
		 d.imm != (uint64_t)(imm_len == 1   ? (int64_t)(int8_t)0x80
				     : imm_len == 2 ? (int64_t)(int16_t)0x8180
						    : (int64_t)(int32_t)0x83828180))
		snprintf(fake_why, sizeof(fake_why), "imm %llx", (unsigned long long)d.imm);
	else if (!err && f->reg_byte &&
		 (d.high8 != !rex || d.reg != (int)(rex ? 4 | (rex & 4) << 1 : 0)))
		snprintf(fake_why, sizeof(fake_why), "byte reg %d high8 %d", d.reg, d.high8);
	else if (!err && !f->reg_byte && !imm_len && d.reg != (2 | (int)(rex & 4) << 1))
		snprintf(fake_why, sizeof(fake_why), "reg %d", d.reg);
	else
		return true;
	char tail[64];
	snprintf(tail, sizeof(tail), " [mode %u prefixes %#x rex %#x op %02x]", mode * 8, p, rex,
		 f->op[f->op_len - 1]);
	strncat(fake_why, tail, sizeof(fake_why) - strlen(fake_why) - 1);
	return false;
}

static bool every_form_with_every_prefix_set(void)
{
	static const unsigned modes[3] = { 2, 4, 8 };
	unsigned count = 0;
	for (size_t i = 0; i < ARRAY_SIZE(forms); i++)
		for (unsigned m = 0; m < 3; m++)
			for (unsigned p = 0; p < P_COUNT; p++)
				for (unsigned rex = 0; rex < (modes[m] == 8 ? 0x50u : 1u);
				     rex = rex ? rex + 1 : 0x40) {
					if (!check_combo(&forms[i], modes[m], p, rex))
						return false;
					count++;
				}
	printf("# %u combinations\n", count);
	return count > 30000;
}

/* The string forms: sizes, REP (F3 or F2), segment (ES fixed for the destination). */
static bool string_forms_with_prefixes(void)
{
	static const uint8_t ops[6] = { 0xA4, 0xA5, 0xAA, 0xAB, 0xAC, 0xAD };
	static const uint8_t reps[3] = { 0, 0xF3, 0xF2 };
	for (unsigned m = 2; m <= 8; m *= 2)
		for (unsigned i = 0; i < 6; i++)
			for (unsigned r = 0; r < 3; r++)
				for (unsigned p = 0; p < 8; p++) {
					uint8_t b[8];
					size_t n = 0;
					if (p & 1)
						b[n++] = 0x66;
					if (p & 2)
						b[n++] = 0x65;
					if (reps[r])
						b[n++] = reps[r];
					if ((p & 4) && m == 8)
						b[n++] = 0x48;
					b[n++] = ops[i];
					struct decoded d;
					T_ASSERT(decode_exact(b, n, m, &d) == 0);
					unsigned os = want_op_size(m, p & 1 ? P_66 : 0,
								   (p & 4) && m == 8 ? 8 : 0);
					T_ASSERT(d.len == n && d.rep == (r != 0));
					T_ASSERT(d.size == (ops[i] & 1 ? os : 1));
					T_ASSERT(d.kind == (i < 2   ? DECODE_MOVS
							    : i < 4 ? DECODE_STOS
								    : DECODE_LODS));
					unsigned seg = d.kind == DECODE_STOS ? SEG_ES
						       : p & 2		     ? SEG_GS
									     : SEG_DS;
					T_ASSERT(d.mem.seg == seg && d.mem_write == (i < 4));
					T_ASSERT(d.kind == DECODE_MOVS ? d.reg == DECODE_NO_REG
								       : d.reg == 0 && !d.high8);
				}
	return true;
}

/* ---- the memory operand's offset ---- */

static bool mem_offset_wraps_to_address_size(void)
{
	uint64_t regs[16] = { 0 };
	struct decoded d;
	regs[3] = 0xFFFFFFF0;			  /* ebx */
	regs[6] = 4;				  /* esi */
	uint8_t a[] = { 0x8B, 0x44, 0xB3, 0x20 }; /* mov eax, [ebx+esi*4+0x20] */
	T_ASSERT(decode_exact(a, sizeof(a), 4, &d) == 0);
	T_ASSERT(decode_mem_offset(&d, regs, 0) == 0x20);
	T_ASSERT(decode_exact(a, sizeof(a), 8, &d) == 0);
	T_ASSERT(decode_mem_offset(&d, regs, 0) == 0x100000020ull);
	uint8_t r[] = { 0x8B, 0x05, 0xF0, 0xFF, 0xFF, 0xFF }; /* mov eax, [rip-16] */
	T_ASSERT(decode_exact(r, sizeof(r), 8, &d) == 0);
	T_ASSERT(decode_mem_offset(&d, regs, 0x1000) == 0x1000 + 6 - 16);
	uint8_t w[] = { 0x8B, 0x46, 0xFE }; /* 16-bit: mov ax, [bp-2] */
	regs[5] = 1;
	T_ASSERT(decode_exact(w, sizeof(w), 2, &d) == 0);
	T_ASSERT(decode_mem_offset(&d, regs, 0) == 0xFFFF);
	return true;
}

/* Register write-back: partial writes keep the rest, 32-bit ones zero-extend. */
static bool register_writes_follow_the_width_rules(void)
{
	const uint64_t old = 0x1122334455667788ull, val = 0xF0E0D0C0B0A09080ull;
	T_ASSERT(decode_reg_write(old, val, 1, false) == 0x1122334455667780ull);
	T_ASSERT(decode_reg_write(old, val, 1, true) == 0x1122334455668088ull);
	T_ASSERT(decode_reg_write(old, val, 2, false) == 0x1122334455669080ull);
	T_ASSERT(decode_reg_write(old, val, 4, false) == 0xB0A09080ull);
	T_ASSERT(decode_reg_write(old, val, 8, false) == val);
	T_ASSERT(decode_reg_read(old, 1, true) == 0x77 && decode_reg_read(old, 2, false) == 0x7788);
	T_ASSERT(decode_reg_read(old, 4, false) == 0x55667788 &&
		 decode_reg_read(old, 8, false) == old);
	T_ASSERT(decode_extend(0x80, 1, true) == ~0x7Full && decode_extend(0x80, 1, false) == 0x80);
	T_ASSERT(decode_extend(0x18000, 2, true) == 0xFFFFFFFFFFFF8000ull);
	T_ASSERT(decode_extend(0x80000000, 4, true) == 0xFFFFFFFF80000000ull);
	T_ASSERT(decode_extend(0x180000000ull, 4, false) == 0x80000000ull);
	return true;
}

/* ---- ALU against the host CPU ---- */

/* Runs insn on x (destination) and y with CF = cin; returns CF PF AF ZF SF (LAHF) | OF. */
#define HOST_ALU(name, insn, T)                                                    \
	static uint64_t name(uint64_t a, uint64_t b, uint64_t cin, uint64_t *res)  \
	{                                                                          \
		T x = (T)a, y = (T)b;                                              \
		uint16_t ax = 0;                                                   \
		uint8_t of = 0;                                                    \
		__asm__("bt $0, %[c]\n\t" insn " %[y], %[x]\n\tlahf\n\tseto %[of]" \
			: [x] "+r"(x), "+a"(ax), [of] "=&q"(of)                    \
			: [y] "r"(y), [c] "r"(cin)                                 \
			: "cc");                                                   \
		*res = (uint64_t)x;                                                \
		return (uint64_t)(ax >> 8 & 0xD5) | (of ? 1u << 11 : 0);           \
	}
#define HOST_ALU4(op)                          \
	HOST_ALU(host_##op##8, #op, uint8_t)   \
	HOST_ALU(host_##op##16, #op, uint16_t) \
	HOST_ALU(host_##op##32, #op, uint32_t) \
	HOST_ALU(host_##op##64, #op, uint64_t)
HOST_ALU4(add)
HOST_ALU4(or)
HOST_ALU4(adc)
HOST_ALU4(sbb)
HOST_ALU4(and)
HOST_ALU4(sub)
HOST_ALU4(xor)
HOST_ALU4(cmp)
HOST_ALU4(test)

typedef uint64_t (*host_alu_fn)(uint64_t, uint64_t, uint64_t, uint64_t *);
#define ROW(op)                                                           \
	{                                                                 \
		host_##op##8, host_##op##16, host_##op##32, host_##op##64 \
	}
static const host_alu_fn host_alu[9][4] = { ROW(add), ROW(or),	ROW(adc), ROW(sbb), ROW(and),
					    ROW(sub), ROW(xor), ROW(cmp), ROW(test) };

/* Operands that reach the carry, overflow and zero edges more often than random ones. */
static uint64_t edge_value(void)
{
	static const uint64_t edges[] = { 0,
					  1,
					  0x7F,
					  0x80,
					  0xFF,
					  0x7FFF,
					  0x8000,
					  0xFFFF,
					  0x7FFFFFFF,
					  0x80000000,
					  0xFFFFFFFF,
					  ~0ull,
					  0x8000000000000000ull,
					  0x7FFFFFFFFFFFFFFFull,
					  0x0F,
					  0x10 };
	uint64_t r = fake_rng_next();
	return r & 1 ? edges[(r >> 1) % ARRAY_SIZE(edges)] : fake_rng_next() >> (r >> 58);
}

static bool alu_flags_match_the_host_cpu(void)
{
	fake_rng_state = 0x5eed;
	for (unsigned i = 0; i < 200000; i++) {
		enum decode_alu op = (enum decode_alu)(i % 9);
		unsigned si = (i / 9) % 4, size = 1u << si;
		uint64_t a = edge_value(), b = edge_value(), cin = fake_rng_next() & 1;
		uint64_t mask = size == 8 ? ~0ull : (1ull << (8 * size)) - 1, hres, res;
		uint64_t hf = host_alu[op][si](a, b, cin, &hres);
		uint64_t f = decode_alu_eval(op, size, a, b, 0x202 | cin, &res);
		uint64_t care = 0x8D5; /* CF PF AF ZF SF OF */
		if (op == ALU_OR || op == ALU_AND || op == ALU_XOR || op == ALU_TEST)
			care &= ~0x10ull; /* AF undefined */
		bool writes = op != ALU_CMP && op != ALU_TEST;
		if ((f & care) != (hf & care) || (writes && res != (hres & mask)) ||
		    (f & ~0x8D5ull) != 0x202) {
			snprintf(fake_why, sizeof(fake_why),
				 "%s%u %llx,%llx cf%llu: flags %llx host %llx res %llx host %llx",
				 alu_name[op], size * 8, (unsigned long long)a,
				 (unsigned long long)b, (unsigned long long)cin,
				 (unsigned long long)f, (unsigned long long)hf,
				 (unsigned long long)res, (unsigned long long)hres);
			return false;
		}
	}
	return true;
}

/* ---- random byte strings ---- */

/* A byte biased towards prefixes, emulated opcodes and ModRM edge values. */
static uint8_t fuzz_byte(void)
{
	static const uint8_t hot[] = { 0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x64, 0x48, 0x4F,
				       0x41, 0x0F, 0x88, 0x89, 0x8A, 0x8B, 0xC6, 0xC7, 0xA1,
				       0xA3, 0xAB, 0xA5, 0x63, 0x81, 0x83, 0xB6, 0xBF, 0x04,
				       0x05, 0x24, 0x25, 0x44, 0x84, 0x45, 0x85, 0xC0 };
	uint64_t r = fake_rng_next();
	return r & 1 ? hot[(r >> 8) % ARRAY_SIZE(hot)] : (uint8_t)(r >> 16);
}

/* Every decoding keeps its promises; decoding exactly d.len bytes gives the same
 * result, and one byte fewer says the bytes ended early. */
static bool decode_properties(const uint8_t *b, size_t n, unsigned mode)
{
	struct decoded d, again;
	char first[256], second[256];
	int err = decode_exact(b, n, mode, &d);
	if (err) {
		T_ASSERT(err == -EFAULT || err == -E2BIG || err == -ENOEXEC || err == -ENOTSUP);
		T_ASSERT(d.why != NULL);
		T_ASSERT(err != -EFAULT || n < DECODE_MAX_LEN);
		return true;
	}
	T_ASSERT(d.len >= 1 && d.len <= n && d.len <= DECODE_MAX_LEN);
	T_ASSERT(d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8);
	T_ASSERT(d.op_size == 2 || d.op_size == 4 || d.op_size == 8);
	T_ASSERT(d.addr_size == 2 || d.addr_size == 4 || d.addr_size == 8);
	T_ASSERT(d.reg >= DECODE_NO_REG && d.reg < 16 && (!d.high8 || d.reg < 4));
	T_ASSERT(d.mem.seg <= SEG_GS && d.mem.scale && !(d.mem.scale & (d.mem.scale - 1)));
	T_ASSERT(!d.lock || d.mem_write);
	T_ASSERT(decode_exact(b, d.len, mode, &again) == 0);
	describe(&d, first, sizeof(first));
	describe(&again, second, sizeof(second));
	T_ASSERT(!strcmp(first, second) && d.imm == again.imm && d.alu == again.alu);
	T_ASSERT(decode_exact(b, d.len - 1u, mode, &again) == -EFAULT);
	return true;
}

static bool random_bytes_never_overread(void)
{
	fake_rng_state = 0xdec0de;
	unsigned ok = 0;
	for (unsigned i = 0; i < 100000; i++) {
		uint8_t b[20];
		size_t n = fake_rng_next() % sizeof(b);
		for (size_t k = 0; k < n; k++)
			b[k] = fuzz_byte();
		unsigned mode = 2u << (i % 3);
		if (!decode_properties(b, n, mode)) {
			char tail[96];
			int at = snprintf(tail, sizeof(tail), " [mode %u:", mode * 8);
			for (size_t k = 0; k < n && at < 90; k++)
				at += snprintf(tail + at, sizeof(tail) - (size_t)at, " %02x", b[k]);
			strncat(fake_why, tail, sizeof(fake_why) - strlen(fake_why) - 1);
			return false;
		}
		struct decoded d;
		ok += decode_exact(b, n, mode, &d) == 0;
	}
	printf("# %u of 100000 random strings decoded\n", ok);
	return ok > 1000; /* the bias reaches the emulated forms */
}

static const struct fake_test tests[] = {
	{ "sdm_table_decodes_as_written", sdm_table_decodes_as_written },
	{ "every_form_with_every_prefix_set", every_form_with_every_prefix_set },
	{ "string_forms_with_prefixes", string_forms_with_prefixes },
	{ "mem_offset_wraps_to_address_size", mem_offset_wraps_to_address_size },
	{ "register_writes_follow_the_width_rules", register_writes_follow_the_width_rules },
	{ "alu_flags_match_the_host_cpu", alu_flags_match_the_host_cpu },
	{ "random_bytes_never_overread", random_bytes_never_overread },
};

int main(int argc, char **argv)
{
	return fake_run_tests(tests, ARRAY_SIZE(tests), argc, argv, NULL);
}
