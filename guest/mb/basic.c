/*
 * basic: the state a Multiboot kernel starts in, as every PC loader leaves it (spec 3.2):
 * 32-bit protected mode with paging off, interrupts off, a flat data segment, memory
 * that reads back what was written, CPUID present. The first kernel of the differential
 * layer: it must pass alike under QEMU and under Keel.
 */
#include "mb.h"

static volatile uint32_t scratch[1024];

static uint32_t read_eflags(void)
{
	uint32_t v;
	__asm__ volatile("pushfl; popl %0" : "=r"(v));
	return v;
}

int mb_main(uint32_t magic, const struct mb_info *info)
{
	(void)magic;
	(void)info;
	tap_plan(5);
	uint32_t cr0 = mb_read_cr0();
	tap_ok(cr0 & 1, "protected mode (CR0.PE)");
	tap_ok(!(cr0 & 0x80000000u), "paging off (CR0.PG clear)");
	tap_ok(!(read_eflags() & 0x200), "interrupts off (EFLAGS.IF clear)");
	for (unsigned i = 0; i < 1024; i++)
		scratch[i] = i * 2654435761u;
	unsigned bad = 0;
	for (unsigned i = 0; i < 1024; i++)
		bad += scratch[i] != i * 2654435761u;
	tap_ok(bad == 0, "memory reads back");
	uint32_t a, b, c, d;
	cpuid(0, &a, &b, &c, &d);
	printf("# CPUID max leaf %u\n", a); /* differs by CPU: not in the TAP line */
	tap_ok(a >= 1 && b != 0, "CPUID leaf 0 answers");
	return tap_done();
}
