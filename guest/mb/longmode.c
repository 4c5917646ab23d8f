/*
 * longmode: the switch every 64-bit Multiboot kernel makes itself (SDM Vol 3A 10.8.5
 * "Initializing IA-32e Mode", 10.8.5.4 "Switching Out of IA-32e Mode Operation"):
 * identity page tables, CR4.PAE, EFER.LME, CR0.PG, a far jump to 64-bit code; then back
 * through compatibility mode to 32-bit protected mode with paging off. Twice, so the
 * second entry shows the first exit left nothing behind. Only what every correct PC does
 * is a TAP line; the #GP cases where QEMU TCG departs from the SDM are checked by the
 * Keel guest guest/longmode.asm.
 */
#include "cpu.h"

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[512] __attribute__((aligned(4096)));
/* 0x08 32-bit code, 0x10 data, 0x18 64-bit code (L). */
static uint64_t gdt[4]
    __attribute__((aligned(8))) = { 0, 0x00CF9B000000FFFFull, 0x00CF93000000FFFFull,
				    0x00AF9B000000FFFFull };
struct {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed)) lm_gdtr;

/* What the round trip saw: EFER in compatibility mode (after CR0.PG) and after
 * leaving, and a 64-bit computation made in 64-bit mode. */
volatile uint32_t lm_efer_in, lm_efer_out, lm_cr0_out;
volatile uint64_t lm_result;

/* lm_roundtrip(cr3): into 64-bit mode and back; cdecl, keeps EBX/ESI/EDI/EBP. */
void lm_roundtrip(uint32_t cr3);
__asm__(".pushsection .text\n"
	".globl lm_roundtrip\n"
	"lm_roundtrip:\n"
	"	pushl %ebx\n"
	"	movl 8(%esp), %eax\n"
	"	lgdt lm_gdtr\n"
	"	ljmp $0x08, $1f\n"
	"1:	movw $0x10, %bx\n"
	"	movw %bx, %ds\n"
	"	movw %bx, %es\n"
	"	movw %bx, %ss\n"
	"	movl %eax, %cr3\n"
	"	movl %cr4, %eax\n"
	"	orl $0x20, %eax\n" /* PAE */
	"	movl %eax, %cr4\n"
	"	movl $0xC0000080, %ecx\n"
	"	rdmsr\n"
	"	orl $0x100, %eax\n" /* LME */
	"	wrmsr\n"
	"	movl %cr0, %eax\n"
	"	orl $0x80000000, %eax\n" /* PG: IA-32e mode, compatibility */
	"	movl %eax, %cr0\n"
	"	rdmsr\n"
	"	movl %eax, lm_efer_in\n"
	/* 64-bit code in this ELF32 object: addresses go in registers (no 64-bit
	 * relocations), zero-extended there (upper halves are undefined after the switch:
	 * SDM Vol 1 3.4.1.1). */
	"	pushl %esi\n"
	"	pushl %edi\n"
	"	movl $lm_result, %edi\n"
	"	movl $3f, %esi\n"
	"	ljmp $0x18, $2f\n"
	".code64\n"
	"2:	movl %edi, %edi\n"
	"	movl %esi, %esi\n"
	"	movabsq $0x123456789, %rax\n"
	"	shrq $32, %rax\n"
	"	movabsq $0x100000000, %rbx\n"
	"	addq %rbx, %rax\n" /* 0x100000001: needs 64-bit registers */
	"	movq %rax, (%rdi)\n"
	"	pushq $0x08\n"
	"	pushq %rsi\n"
	"	lretq\n"
	".code32\n"
	"3:	movl %cr0, %eax\n"
	"	andl $0x7FFFFFFF, %eax\n"
	"	movl %eax, %cr0\n"
	"	ljmp $0x08, $4f\n"
	"4:	movl $0xC0000080, %ecx\n"
	"	rdmsr\n"
	"	movl %eax, lm_efer_out\n"
	"	andl $~0x100, %eax\n"
	"	wrmsr\n"
	"	movl %cr4, %eax\n"
	"	andl $~0x20, %eax\n"
	"	movl %eax, %cr4\n"
	"	movl %cr0, %eax\n"
	"	movl %eax, lm_cr0_out\n"
	"	popl %edi\n"
	"	popl %esi\n"
	"	popl %ebx\n"
	"	ret\n"
	".popsection\n");

static void build_tables(void)
{
	pml4[0] = (uint32_t)pdpt | 3;
	pdpt[0] = (uint32_t)pd | 3;
	for (unsigned i = 0; i < 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83; /* P, RW, PS: 2 MiB */
	lm_gdtr.limit = sizeof(gdt) - 1;
	lm_gdtr.base = (uint32_t)gdt;
}

static void round_trip(unsigned round)
{
	lm_result = 0;
	lm_roundtrip((uint32_t)pml4);
	tap_ok(lm_efer_in & EFER_LMA, "round %u: EFER.LMA set by CR0.PG with EFER.LME and PAE",
	       round);
	tap_ok(lm_result == 0x100000001ull, "round %u: 64-bit code ran", round);
	tap_ok(!(lm_efer_out & EFER_LMA), "round %u: EFER.LMA clear after CR0.PG cleared", round);
	tap_ok(!(rdmsr64(MSR_EFER) & EFER_LME), "round %u: EFER.LME cleared", round);
	tap_ok(!(lm_cr0_out & CR0_PG) && !(read_cr4() & CR4_PAE),
	       "round %u: paging and PAE off again", round);
}

int mb_main(uint32_t magic, const struct mb_info *info)
{
	(void)magic;
	(void)info;
	tap_plan(10);
	build_tables();
	round_trip(1);
	round_trip(2);
	return tap_done();
}
