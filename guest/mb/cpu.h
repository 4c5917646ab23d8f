/*
 * CPU helpers of the Multiboot kernels that test the CPU itself (longmode, pae, msr,
 * xsave): control registers, MSRs and XCR0, and faults caught. cpu_idt_init() loads a
 * 32-bit IDT whose #GP and #UD handlers count the fault, keep its vector and the EFLAGS
 * image it pushed, and resume at the address the faulting helper named, so a helper
 * returns "faulted" instead of the kernel triple-faulting. Included by one kernel each
 * (the handler is top-level asm here). Knows nothing of Keel.
 */
#ifndef GUEST_MB_CPU_H
#define GUEST_MB_CPU_H

#include "mb.h"

struct cpu_fault {
	uint32_t count, vector, eflags;
};
volatile struct cpu_fault cpu_fault;
volatile uint32_t cpu_fault_resume;

/* #GP pushes an error code, #UD does not (SDM Vol 3A 6.15); then EIP, CS, EFLAGS. */
__asm__(".pushsection .text\n"
	"cpu_gp_stub:\n"
	"	movl $13, cpu_fault+4\n"
	"	addl $4, %esp\n"
	"	jmp cpu_fault_common\n"
	"cpu_ud_stub:\n"
	"	movl $6, cpu_fault+4\n"
	"cpu_fault_common:\n"
	"	incl cpu_fault\n"
	"	pushl %eax\n"
	"	movl 12(%esp), %eax\n"
	"	movl %eax, cpu_fault+8\n"
	"	movl cpu_fault_resume, %eax\n"
	"	movl %eax, 4(%esp)\n"
	"	popl %eax\n"
	"	iret\n"
	".popsection\n");
void cpu_gp_stub(void);
void cpu_ud_stub(void);

static uint64_t cpu_idt[32] __attribute__((aligned(8), unused));

static inline uint64_t cpu_gate(void (*fn)(void))
{
	uint32_t off = (uint32_t)fn;
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return (off & 0xFFFF) | (uint64_t)cs << 16 | 0x8E00ull << 32 | (uint64_t)(off >> 16) << 48;
}

static inline void cpu_idt_init(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) idtr = { sizeof(cpu_idt) - 1, (uint32_t)cpu_idt };
	cpu_idt[13] = cpu_gate(cpu_gp_stub);
	cpu_idt[6] = cpu_gate(cpu_ud_stub);
	__asm__ volatile("lidt %0" ::"m"(idtr));
}

/* Each *_try runs one instruction; returns 0, or the vector of the fault it raised. */
static inline unsigned cpu_fault_taken(void)
{
	return cpu_fault.count ? cpu_fault.vector : 0;
}

static inline unsigned rdmsr_try(uint32_t msr, uint64_t *val)
{
	uint32_t lo = 0, hi = 0;
	cpu_fault.count = 0;
	__asm__ volatile("movl $1f, cpu_fault_resume\n\trdmsr\n1:"
			 : "+a"(lo), "+d"(hi)
			 : "c"(msr)
			 : "memory");
	*val = (uint64_t)hi << 32 | lo;
	return cpu_fault_taken();
}

static inline unsigned wrmsr_try(uint32_t msr, uint64_t val)
{
	cpu_fault.count = 0;
	__asm__ volatile("movl $1f, cpu_fault_resume\n\twrmsr\n1:" ::"c"(msr), "a"((uint32_t)val),
			 "d"((uint32_t)(val >> 32))
			 : "memory");
	return cpu_fault_taken();
}

static inline unsigned xsetbv_try(uint32_t xcr, uint64_t val)
{
	cpu_fault.count = 0;
	__asm__ volatile("movl $1f, cpu_fault_resume\n\txsetbv\n1:" ::"c"(xcr), "a"((uint32_t)val),
			 "d"((uint32_t)(val >> 32))
			 : "memory");
	return cpu_fault_taken();
}

static inline uint64_t rdmsr64(uint32_t msr)
{
	uint64_t v = 0;
	(void)rdmsr_try(msr, &v);
	return v;
}

static inline uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

#define DEFINE_MB_CR(n)                                                  \
	static inline uint32_t read_cr##n(void)                          \
	{                                                                \
		uint32_t v;                                              \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));        \
		return v;                                                \
	}                                                                \
	static inline void write_cr##n(uint32_t v)                       \
	{                                                                \
		__asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); \
	}
DEFINE_MB_CR(0)
DEFINE_MB_CR(3)
DEFINE_MB_CR(4)
#undef DEFINE_MB_CR

#define MSR_EFER 0xC0000080u
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)
#define CR0_PG (1u << 31)
#define CR4_PAE (1u << 5)
#define CR4_OSXSAVE (1u << 18)

#endif
