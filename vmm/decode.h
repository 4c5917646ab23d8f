/*
 * The x86 instruction decoder for MMIO emulation: from the bytes at a guest's RIP to
 * what the instruction does to memory (load, store, read-modify-write, string form),
 * how wide, with which register or immediate, and how long it is. Pure: it reads only
 * the bytes it is given (never past len), knows no vCPU, VMCS or device, and is tested
 * on the host (tests/host/test_decode.c) against a table written from the SDM's opcode
 * maps (Vol 2D appendix A) and 100,000 random byte strings.
 *
 * Decoded: MOV 88/89/8A/8B, C6 /0, C7 /0, A0-A3 (moffs); MOVZX/MOVSX 0F B6/B7/BE/BF;
 * MOVSXD 63 (64-bit mode); STOS AA/AB, LODS AC/AD, MOVS A4/A5 with REP (F3, or F2,
 * which these three treat as REP); ADD/OR/ADC/SBB/AND/SUB/XOR/CMP 00-3B (r/m forms),
 * 80/81/83 /n; TEST 84/85, F6 /0, F7 /0. Prefixes 66, 67, segment overrides
 * (2E 36 3E 26 64 65), F0, F2, F3 in any order and number (15 bytes at most), REX
 * (W R X B) in 64-bit mode (ignored unless it comes right before the opcode, SDM Vol 2A
 * 2.2.1), ModRM/SIB addressing of 16-, 32- and 64-bit code incl. RIP-relative.
 *
 * Registers are numbered as the hardware encodes them (0 rax, 1 rcx, 2 rdx, 3 rbx,
 * 4 rsp, 5 rbp, 6 rsi, 7 rdi, 8-15 r8-r15), the numbering of exit qualifications too.
 */
#ifndef VMM_DECODE_H
#define VMM_DECODE_H

#include <keel/types.h>

#define DECODE_MAX_LEN 15 /* SDM Vol 2A 2.3.11: longer raises #GP */

enum decode_kind {
	DECODE_LOAD,  /* reg <- [mem], zero- or sign-extended to reg_size */
	DECODE_STORE, /* [mem] <- reg or imm */
	DECODE_ALU,   /* an arithmetic/logic op with a memory operand; sets RFLAGS */
	DECODE_STOS,  /* [ES:rDI] <- rAX, rDI += step (REP: rCX times) */
	DECODE_LODS,  /* rAX <- [seg:rSI], rSI += step */
	DECODE_MOVS,  /* [ES:rDI] <- [seg:rSI], both += step */
};

/* The ALU operations, in the order of the 80-83 /n group (SDM Vol 2D table A-6). */
enum decode_alu { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP, ALU_TEST };

/* Segment registers in the order of their VMCS fields and of MOV Sreg encodings. */
enum decode_seg { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS };

#define DECODE_NO_REG (-1)
#define DECODE_RIP 16 /* base register of a RIP-relative operand */

/* The memory operand: seg:(base + index * scale + disp), address-size wrapped. */
struct decode_mem {
	int8_t base;   /* 0-15, DECODE_RIP, or DECODE_NO_REG */
	int8_t index;  /* 0-15 or DECODE_NO_REG */
	uint8_t scale; /* 1, 2, 4, 8 */
	uint8_t seg;   /* enum decode_seg: the override or the default */
	int64_t disp;  /* sign-extended (moffs: zero-extended) */
};

struct decoded {
	enum decode_kind kind;
	enum decode_alu alu; /* DECODE_ALU */
	uint8_t len;	     /* bytes of the whole instruction */
	uint8_t size;	     /* bytes of the memory access: 1, 2, 4, 8 */
	uint8_t op_size;     /* effective operand size: 2, 4, 8 */
	uint8_t addr_size;   /* effective address size: 2, 4, 8 */
	/* The register operand (LOAD destination, STORE/ALU source or destination, the
	 * rAX of STOS/LODS): number, width in bytes, and AH/CH/DH/BH (4-7, no REX). */
	int8_t reg; /* DECODE_NO_REG when an immediate or nothing takes its place */
	uint8_t reg_size;
	bool high8;
	bool sign_extend; /* LOAD: MOVSX/MOVSXD; otherwise zero-extended */
	bool has_imm;
	uint64_t imm;	/* sign-extended to 64 bits (C6/80/F6: 8-bit) */
	bool mem_dest;	/* ALU: the memory operand is the destination (else reg) */
	bool mem_write; /* the instruction writes memory (ALU: not CMP/TEST) */
	bool rep;	/* string forms: F3 or F2 */
	bool lock;
	struct decode_mem mem; /* not for string forms (their registers are fixed) */
	const char *why;       /* set on failure: a reason for the guest's end */
};

/*
 * Decodes the instruction in bytes[0, len) for code of the given default size (2: 16-bit,
 * 4: 32-bit, 8: 64-bit mode). Returns 0 with *d filled, or:
 *  -EFAULT  the bytes end before the instruction does (the fetch came up short),
 *  -E2BIG   longer than 15 bytes (the CPU raises #GP),
 *  -ENOEXEC an encoding the CPU refuses (#UD: LOCK on a non-lockable form, C6 /1 ...),
 *  -ENOTSUP a valid instruction this decoder does not emulate, or one with no memory
 *           operand (ModRM mod = 3),
 *  -EINVAL  mode not 2, 4 or 8.
 * d->why says which on failure.
 */
int decode_insn(const uint8_t *bytes, size_t len, unsigned mode, struct decoded *d);

/*
 * The offset of d's memory operand inside its segment (base + index * scale + disp,
 * wrapped to the address size), given the register values regs[0..15] and the RIP of
 * the instruction (RIP-relative operands count from its end).
 */
uint64_t decode_mem_offset(const struct decoded *d, const uint64_t regs[16], uint64_t rip);

/*
 * The new value of a register whose old value is old after an instruction writes val to
 * its low size bytes (high8: to bits 15:8, AH..BH): 8- and 16-bit writes keep the other
 * bits, a 32-bit write zero-extends into bits 63:32 (SDM Vol 1 3.4.1.1).
 */
uint64_t decode_reg_write(uint64_t old, uint64_t val, unsigned size, bool high8);
/* The size-byte operand of register value r (high8: bits 15:8). */
uint64_t decode_reg_read(uint64_t r, unsigned size, bool high8);
/* val's low size bytes, sign- or zero-extended to 64 bits. */
uint64_t decode_extend(uint64_t val, unsigned size, bool sign);

/*
 * ALU op on a (destination) and b (source) of size bytes with the carry-in of rflags:
 * stores the result in *res (to be written unless CMP/TEST) and returns rflags with
 * CF PF AF ZF SF OF updated (SDM Vol 1 3.4.3; AND/OR/XOR/TEST clear CF and OF, and leave
 * AF as it was: "undefined" there, unchanged is one of the allowed outcomes).
 */
uint64_t decode_alu_eval(enum decode_alu op, unsigned size, uint64_t a, uint64_t b, uint64_t rflags,
			 uint64_t *res);

#endif
