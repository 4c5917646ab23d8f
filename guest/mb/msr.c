/*
 * msr: the MSRs a Multiboot kernel touches on its way to long mode and SYSCALL, read and
 * written from 32-bit protected mode with an IDT catching #GP (SDM Vol 4 table 2-2;
 * RDMSR/WRMSR in Vol 2B): EFER.SCE/NXE, the TSC (a write moves it), STAR/LSTAR/CSTAR/
 * SFMASK/KERNEL_GS_BASE, SYSENTER_CS/ESP/EIP, PAT, MISC_ENABLE, MCG_STATUS. Where QEMU
 * TCG departs from the SDM the outcome is a comment line, not a TAP line, and the Keel
 * guest guest/msr.asm checks the SDM's answer: QEMU raises no #GP for refused WRMSR
 * values (reserved EFER bit, PAT type 2, non-canonical addresses), ignores a TSC write,
 * reads 0 from an unknown MSR; MCG_CAP's bank count and RF in a fault's EFLAGS image
 * differ between CPUs anyway.
 */
#include "cpu.h"

#define MSR_TSC 0x10u
#define MSR_SYSENTER_CS 0x174u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define MSR_MCG_CAP 0x179u
#define MSR_MCG_STATUS 0x17Au
#define MSR_MISC_ENABLE 0x1A0u
#define MSR_PAT 0x277u
#define MSR_STAR 0xC0000081u
#define MSR_LSTAR 0xC0000082u
#define MSR_CSTAR 0xC0000083u
#define MSR_SFMASK 0xC0000084u
#define MSR_FS_BASE 0xC0000100u
#define MSR_KERNEL_GS_BASE 0xC0000102u

/* WRMSR of val, then RDMSR gives it back. */
static bool round_trip(uint32_t msr, uint64_t val)
{
	uint64_t got = ~val;
	return !wrmsr_try(msr, val) && !rdmsr_try(msr, &got) && got == val;
}

static void efer_and_tsc(void)
{
	uint64_t efer = rdmsr64(MSR_EFER);
	tap_ok(round_trip(MSR_EFER, efer | 1) && round_trip(MSR_EFER, efer),
	       "EFER.SCE set and cleared");
	tap_ok(!wrmsr_try(MSR_TSC, 1ull << 40), "TSC written");
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	printf("# RDTSC after writing 2^40: %s\n",
	       hi == 1u << 8 ? "counts on from it" : "not moved (QEMU TCG)");
	(void)wrmsr_try(MSR_EFER, efer);
}

static void syscall_msrs(void)
{
	tap_ok(round_trip(MSR_STAR, 0x0023001000080000ull), "STAR round trip");
	tap_ok(round_trip(MSR_LSTAR, 0xFFFF800000001234ull) &&
		   round_trip(MSR_CSTAR, 0xFFFF800000005678ull),
	       "LSTAR, CSTAR round trips");
	tap_ok(round_trip(MSR_SFMASK, 0x47700), "SFMASK round trip");
	tap_ok(round_trip(MSR_KERNEL_GS_BASE, 0x00007FFF12345000ull), "KERNEL_GS_BASE round trip");
	tap_ok(round_trip(MSR_SYSENTER_CS, 0x08) && round_trip(MSR_SYSENTER_ESP, 0x9000) &&
		   round_trip(MSR_SYSENTER_EIP, 0x100000),
	       "SYSENTER_CS/ESP/EIP round trips");
}

static void pat_misc_mcg(void)
{
	tap_ok(rdmsr64(MSR_PAT) == 0x0007040600070406ull, "PAT reads its reset value");
	tap_ok(round_trip(MSR_PAT, 0x0007010600070106ull), "PAT round trip");
	uint64_t misc = 0;
	tap_ok(!rdmsr_try(MSR_MISC_ENABLE, &misc) && (misc & 1),
	       "MISC_ENABLE reads, fast strings on");
	tap_ok(!wrmsr_try(MSR_MISC_ENABLE, misc), "MISC_ENABLE written back unchanged");
	tap_ok(rdmsr64(MSR_MCG_STATUS) == 0 && !wrmsr_try(MSR_MCG_STATUS, 0),
	       "MCG_STATUS reads 0 and takes 0");
	uint64_t cap = 0;
	unsigned f = rdmsr_try(MSR_MCG_CAP, &cap);
	printf("# MCG_CAP: %s, %u banks\n", f ? "#GP" : "readable", (unsigned)(cap & 0xFF));
}

/* Refused values: #GP by the SDM (and under Keel), taken by QEMU TCG. */
static void refused(const char *what, uint32_t msr, uint64_t val)
{
	printf("# WRMSR %s: %s\n", what, wrmsr_try(msr, val) == 13 ? "#GP" : "taken");
}

static void differences(void)
{
	uint64_t v, efer = rdmsr64(MSR_EFER);
	refused("EFER reserved bit 9", MSR_EFER, efer | (1u << 9));
	refused("PAT type 2", MSR_PAT, 0x0007040600070402ull);
	refused("non-canonical LSTAR", MSR_LSTAR, 0x0000800000000000ull);
	refused("non-canonical KERNEL_GS_BASE", MSR_KERNEL_GS_BASE, 0x8000000000000000ull);
	refused("non-canonical SYSENTER_EIP", MSR_SYSENTER_EIP, 0x0001000000000000ull);
	refused("non-canonical FS_BASE", MSR_FS_BASE, 0x0000800000000000ull);
	unsigned f = rdmsr_try(0x345, &v);
	printf("# RDMSR 0x345 (PERF_CAPABILITIES, PDCM clear): %s\n", f == 13 ? "#GP" : "no fault");
	if (f == 13)
		printf("# RF in the #GP's EFLAGS image: %s\n",
		       (cpu_fault.eflags >> 16) & 1 ? "set" : "clear");
}

int mb_main(uint32_t magic, const struct mb_info *info)
{
	(void)magic;
	(void)info;
	tap_plan(12);
	cpu_idt_init();
	efer_and_tsc();
	syscall_msrs();
	pat_misc_mcg();
	differences();
	return tap_done();
}
