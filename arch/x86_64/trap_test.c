/*
 * Exception tests: each exception Keel can raise on purpose from ring 0 is raised for
 * real, caught through trap_catch, and its vector, error code, CR2 and stack checked.
 * Not raised here: #AC (needs ring 3), #MC, #VE, #CP, #TS (need hardware or VMX) —
 * see the dump test (crash=) for the fatal path.
 */
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/errno.h>
#include <keel/ktest.h>
#include <keel/string.h>

const char *trap_vector_name(unsigned v);

/* Runs fn under a catch and returns the vector it raised, or -1 if none. */
#define RAISE(catch, body)                     \
	({                                     \
		int _r = trap_catch(&(catch)); \
		if (_r == 0) {                 \
			body;                  \
			trap_uncatch();        \
		}                              \
		_r - 1;                        \
	})

KTEST(trap_divide_error_caught)
{
	struct trap_catch c = { 0 };
	int v = RAISE(c, __asm__ __volatile__("xor %%ecx, %%ecx; div %%ecx" ::
						  : "eax", "ecx", "edx"));
	KT_ASSERT_EQ(v, 0);
	KT_ASSERT(!strcmp(trap_vector_name(0), "#DE divide error"));
}

KTEST(trap_debug_single_step_caught)
{
	struct trap_catch c = { 0 };
	/* RFLAGS.TF: #DB after the next instruction (SDM Vol 3A 18.3.1.4). */
	int v = RAISE(c, __asm__ __volatile__("pushfq; orq $0x100, (%%rsp); popfq; nop" ::: "cc"));
	KT_ASSERT_EQ(v, 1);
	KT_ASSERT(!(read_rflags() & 0x100));
}

KTEST(trap_breakpoint_caught)
{
	struct trap_catch c = { 0 };
	KT_ASSERT_EQ(RAISE(c, __asm__ __volatile__("int3")), 3);
}

KTEST(trap_invalid_opcode_caught)
{
	struct trap_catch c = { 0 };
	int v = RAISE(c, __asm__ __volatile__("ud2"));
	KT_ASSERT_EQ(v, 6);
	KT_ASSERT_EQ(c.error, 0);
}

KTEST(trap_device_not_available_caught)
{
	struct trap_catch c = { 0 };
	uint64_t cr0 = read_cr0();
	write_cr0(cr0 | (1u << 3)); /* CR0.TS: next x87 instruction raises #NM */
	int v = RAISE(c, __asm__ __volatile__("fnop"));
	write_cr0(cr0);
	KT_ASSERT_EQ(v, 7);
}

KTEST(trap_general_protection_noncanonical)
{
	struct trap_catch c = { 0 };
	volatile uint64_t *p = (volatile uint64_t *)0x8000000000000000ull;
	int v = RAISE(c, (void)*p);
	KT_ASSERT_EQ(v, 13);
	KT_ASSERT_EQ(c.error, 0);
}

/* Loading SS with a not-present descriptor raises #SS(selector) (SDM Vol 3A 6.15). */
KTEST(trap_stack_fault_not_present_ss)
{
	struct cpu *cpu = this_cpu();
	struct trap_catch c = { 0 };
	cpu->gdt[GDT_SPARE] = 0x00CF12000000FFFFull; /* writable data segment with P = 0 */
	int v = RAISE(c, __asm__ __volatile__("mov %0, %%ss" ::"r"(GDT_SPARE * 8)));
	cpu->gdt[GDT_SPARE] = 0;
	KT_ASSERT_EQ(v, 12);
	KT_ASSERT_EQ(c.error, GDT_SPARE * 8);
}

KTEST(trap_page_fault_reports_cr2_and_error)
{
	struct trap_catch c = { 0 };
	volatile uint64_t *p = (volatile uint64_t *)0x1234560ull; /* lower half: unmapped */
	int v = RAISE(c, *p = 1);
	KT_ASSERT_EQ(v, 14);
	KT_ASSERT_EQ(c.cr2, 0x1234560ull);
	KT_ASSERT_EQ(c.error & 3, 2); /* not present, write */
}

KTEST(trap_segment_not_present_caught)
{
	struct cpu *cpu = this_cpu();
	struct trap_catch c = { 0 };
	cpu->gdt[GDT_SPARE] = 0x00CF12000000FFFFull; /* data segment with P = 0 */
	int v = RAISE(c, __asm__ __volatile__("mov %0, %%ds" ::"r"(GDT_SPARE * 8)));
	__asm__ __volatile__("mov %0, %%ds" ::"r"(SEL_KDATA));
	cpu->gdt[GDT_SPARE] = 0;
	KT_ASSERT_EQ(v, 11);
	KT_ASSERT_EQ(c.error, GDT_SPARE * 8);
}

KTEST(trap_simd_exception_caught)
{
	struct trap_catch c = { 0 };
	uint64_t cr4 = read_cr4();
	write_cr4(cr4 | CR4_OSFXSR | CR4_OSXMMEXCPT);
	uint32_t mxcsr = 0x1F80 & ~(1u << 9); /* unmask divide-by-zero */
	uint32_t one = 0x3F800000, zero = 0, saved;
	int v = RAISE(c, __asm__ __volatile__("stmxcsr %0; ldmxcsr %1; movd %2, %%xmm0;"
					      "movd %3, %%xmm1; divss %%xmm1, %%xmm0"
					      : "=m"(saved)
					      : "m"(mxcsr), "r"(one), "r"(zero)));
	/* xmm0/xmm1 are not declared clobbered: the kernel is built without SSE. */
	uint32_t clean = 0x1F80;
	__asm__ __volatile__("ldmxcsr %0" ::"m"(clean));
	write_cr4(cr4);
	if (v == -1)
		KT_SKIP("this emulator does not deliver unmasked SIMD exceptions (QEMU TCG)");
	KT_ASSERT_EQ(v, 19);
}

KTEST(trap_software_vectors_reported)
{
	struct trap_catch c = { 0 };
	KT_ASSERT_EQ(RAISE(c, __asm__ __volatile__("int $4")), 4);
	KT_ASSERT_EQ(RAISE(c, __asm__ __volatile__("int $5")), 5);
	KT_ASSERT(!strcmp(trap_vector_name(14), "#PF page fault"));
}

/* NMI and double fault use their own IST stacks: the frame must land there. */
static bool on_ist(uint64_t rsp, int ist)
{
	struct cpu *cpu = this_cpu();
	uint64_t lo = (uint64_t)cpu->ist_stacks[ist - 1];
	return rsp >= lo && rsp < lo + IST_STACK_SIZE;
}

KTEST(trap_nmi_gate_uses_ist_stack)
{
	struct trap_catch c = { 0 };
	KT_ASSERT_EQ(RAISE(c, __asm__ __volatile__("int $2")), 2);
	KT_ASSERT(on_ist(c.fault_rsp, IST_NMI));
}

/*
 * A real double fault: with the IDT limit cut to vectors 0-8, `int $0x40` raises #GP
 * (gate beyond the limit), whose gate is also beyond it: #GP during #GP delivery is a
 * double fault (SDM Vol 3A 6.15, Table 6-5).
 */
KTEST(trap_double_fault_on_ist_stack)
{
	struct trap_catch c = { 0 };
	struct __packed {
		uint16_t limit;
		uint64_t base;
	} full, cut;
	__asm__ __volatile__("sidt %0" : "=m"(full));
	cut = full;
	cut.limit = 9 * 16 - 1;
	/* No interrupt may arrive while the IDT is cut: it would double-fault first. */
	unsigned long flags = arch_irq_save();
	int v = RAISE(c, __asm__ __volatile__("lidt %0; int $0x40" ::"m"(cut)));
	__asm__ __volatile__("lidt %0" ::"m"(full));
	arch_irq_restore(flags);
	KT_ASSERT_EQ(v, 8);
	KT_ASSERT_EQ(c.error, 0);
	KT_ASSERT(on_ist(c.fault_rsp, IST_DOUBLE_FAULT));
}

KTEST(trap_fixup_probe_read_unmapped_returns_efault)
{
	uint64_t val = 0xdead, x = 42;
	KT_ASSERT_EQ(probe_read_u64((const void *)0x1000, &val), -EFAULT);
	KT_ASSERT_EQ(val, 0xdead);
	KT_ASSERT_EQ(probe_read_u64(&x, &val), 0);
	KT_ASSERT_EQ(val, 42);
	KT_ASSERT(this_cpu()->catch == NULL);
}

/*
 * rdmsr_safe of an unknown MSR must agree with the CPU: -EFAULT where rdmsr raises #GP
 * (real CPUs, Bochs with ignore_bad_msrs=0), the value where it does not (QEMU TCG
 * reads unknown MSRs as 0). The raw instruction is tried under a catch first.
 */
KTEST(trap_fixup_rdmsr_unknown_msr_matches_cpu)
{
	const uint32_t msr = 0x12345678;
	struct trap_catch c = { 0 };
	uint64_t raw = 0, val = 0xdead;
	int v = RAISE(c, raw = rdmsr(msr));
	int err = rdmsr_safe(msr, &val);
	if (v == 13) {
		KT_ASSERT_EQ(err, -EFAULT);
		KT_ASSERT_EQ(wrmsr_safe(msr, 1), -EFAULT);
	} else {
		KT_ASSERT_EQ(v, -1);
		KT_ASSERT_EQ(err, 0);
		KT_ASSERT_EQ(val, raw);
	}
	KT_ASSERT_EQ(rdmsr_safe(MSR_EFER, &val), 0); /* a real MSR reads the same way */
	KT_ASSERT(val & (1u << 8));		     /* LME */
}

KTEST(trap_catch_disarmed_after_use)
{
	struct trap_catch c = { 0 };
	KT_ASSERT_EQ(RAISE(c, __asm__ __volatile__("int3")), 3);
	KT_ASSERT(this_cpu()->catch == NULL);
}
