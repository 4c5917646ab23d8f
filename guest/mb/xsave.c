/*
 * xsave: the CPU identity a kernel reads before enabling XSAVE, and XSETBV (SDM Vol 2A
 * CPUID; Vol 2C XSETBV; Vol 1 13.3): CPUID.1:ECX.OSXSAVE follows CR4.OSXSAVE, XSETBV
 * without CR4.OSXSAVE raises #UD, good XCR0 values load (XGETBV reads them back, CPUID
 * leaf 0xD's size follows), and bad ones raise #GP (x87 clear, AVX without SSE, ECX
 * not 0, a component the CPU does not list). What differs between CPUs (feature lists,
 * whether AVX is there) is a comment line.
 */
#include "cpu.h"

static uint32_t leaf(uint32_t l, uint32_t sub, unsigned reg)
{
	uint32_t r[4];
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(l), "c"(sub));
	return r[reg & 3];
}

static void identity(void)
{
	uint32_t c = leaf(1, 0, 2), apic = leaf(1, 0, 1) >> 24;
	printf("# CPUID.1: ECX 0x%x EDX 0x%x; hypervisor bit %u\n", c, leaf(1, 0, 3), c >> 31);
	tap_ok(!((c >> 5) & 1), "VMX not offered to the kernel");
	tap_ok(leaf(0, 0, 0) < 0xB || leaf(0xB, 0, 3) == apic,
	       "APIC ID: leaf 1 EBX[31:24] and leaf 0xB EDX agree");
	tap_ok(!((c >> 27) & 1), "OSXSAVE clear while CR4.OSXSAVE is clear");
}

/* XCR0 := val: expect (0: loads and reads back; else the vector it must raise). */
static bool xcr0_load(uint32_t xcr, uint64_t val, unsigned expect)
{
	unsigned f = xsetbv_try(xcr, val);
	if (f != expect)
		return false;
	return expect || xgetbv0() == val;
}

static void xsetbv_checks(void)
{
	write_cr4(read_cr4() | CR4_OSXSAVE);
	tap_ok((leaf(1, 0, 2) >> 27) & 1, "OSXSAVE set after CR4.OSXSAVE");
	uint64_t ok = leaf(0xD, 0, 0) | (uint64_t)leaf(0xD, 0, 3) << 32;
	printf("# XCR0 components the CPU lists: 0x%llx\n", (unsigned long long)ok);
	tap_ok(xcr0_load(0, 3, 0), "XCR0 = x87|SSE loads");
	tap_ok(leaf(0xD, 0, 1) == 576, "CPUID.(0xD,0):EBX = 576 for x87|SSE");
	if (ok & 4)
		printf("# XCR0 = x87|SSE|AVX: %s\n", xcr0_load(0, 7, 0) ? "loads" : "FAILS");
	tap_ok(xcr0_load(0, 0, 13), "XCR0 = 0: #GP");
	printf("# RF in that #GP's EFLAGS image: %s\n",
	       (cpu_fault.eflags >> 16) & 1 ? "set" : "clear");
	tap_ok(xcr0_load(0, 2, 13), "XCR0 without x87: #GP");
	tap_ok(xcr0_load(0, 5, 13), "XCR0 AVX without SSE: #GP");
	tap_ok(xcr0_load(1, 1, 13), "XSETBV with ECX = 1: #GP");
	unsigned missing = 0;
	while ((ok >> missing) & 1)
		missing++; /* the lowest component not listed */
	tap_ok(xcr0_load(0, 3 | 1ull << missing, 13), "XCR0 with a component not listed: #GP");
	tap_ok(xgetbv0() == 3 || xgetbv0() == 7, "XCR0 kept its last good value");
	write_cr4(read_cr4() & ~CR4_OSXSAVE);
	tap_ok(xcr0_load(0, 3, 6), "XSETBV with CR4.OSXSAVE clear: #UD");
}

int mb_main(uint32_t magic, const struct mb_info *info)
{
	(void)magic;
	(void)info;
	tap_plan(13);
	cpu_idt_init();
	identity();
	if (!((leaf(1, 0, 2) >> 26) & 1)) {
		printf("# no XSAVE on this CPU\n");
		return 1;
	}
	xsetbv_checks();
	return tap_done();
}
