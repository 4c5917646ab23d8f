/*
 * Misbehaves on purpose, one way per arg=: every exception a user program can raise
 * must end this process alone, with the reason, and never the kernel (the manifest
 * expects `killed:` with words of the reason). Without a known arg it exits 3.
 */
#include "keel_user.h"

static volatile uint64_t sink;

/* Recurses until the stack runs into its guard page. */
static __attribute__((noinline)) uint64_t deep(uint64_t n)
{
	volatile char pad[4096];

	pad[0] = (char)n;
	if (n > (1u << 20)) /* far more than the 8 MiB stack holds */
		return n;
	return deep(n + 1) + pad[0];
}

static void sse_divide_by_zero(void)
{
	uint32_t mxcsr = 0x1F80 & ~(1u << 9); /* unmask divide-by-zero */
	volatile float zero = 0.0f, one = 1.0f;

	__asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
	sink = (uint64_t)(one / zero);
}

/* x87 divide by zero, unmasked: #MF at the next FP instruction (CR0.NE = 1). */
static void x87_divide_by_zero(void)
{
	uint16_t cw = 0x037F & ~(1u << 2); /* unmask ZM */
	volatile double zero = 0.0, r;

	__asm__ volatile("fldcw %0" ::"m"(cw));
	__asm__ volatile("fld1; fdivl %1; fstpl %0; fwait" : "=m"(r) : "m"(zero));
}

int main(const char *arg)
{
	static const uint8_t code_in_data[] = { 0xC3 }; /* ret, in a non-executable page */
	volatile int zero = 0;

	printf("fault: %s\n", arg);
	if (!strcmp(arg, "ud"))
		__asm__ volatile("ud2");
	else if (!strcmp(arg, "gp"))
		__asm__ volatile("cli"); /* IOPL 0: privileged */
	else if (!strcmp(arg, "hlt"))
		__asm__ volatile("hlt");
	else if (!strcmp(arg, "de"))
		sink = 100 / zero;
	else if (!strcmp(arg, "null"))
		sink = *(volatile uint64_t *)0; // cppcheck-suppress nullPointer
	else if (!strcmp(arg, "kernel"))
		sink = *(volatile uint64_t *)0xFFFFFFFF80100000ull; /* the kernel image */
	else if (!strcmp(arg, "noncanon"))
		sink = *(volatile uint64_t *)0x8000000000000000ull;
	else if (!strcmp(arg, "textwrite"))
		*(volatile uint8_t *)main = 0x90;
	else if (!strcmp(arg, "nx"))
		((void (*)(void))code_in_data)();
	else if (!strcmp(arg, "bp"))
		__asm__ volatile("int3");
	else if (!strcmp(arg, "int"))
		__asm__ volatile("int $0x80"); /* a DPL-0 gate */
	else if (!strcmp(arg, "stack"))
		sink = deep(0);
	else if (!strcmp(arg, "xm"))
		sse_divide_by_zero();
	else if (!strcmp(arg, "mf"))
		x87_divide_by_zero();
	else if (!strcmp(arg, "jump"))
		((void (*)(void))0x00007FFFFFFFF000ull)(); /* the top page: never mapped */
	return 3;
}
