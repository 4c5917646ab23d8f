/*
 * The guest's extended state on the CPU. Keel's own code uses no x87/SSE/AVX register
 * and no XSAVE feature (built with general registers only), so the CPU's registers and
 * XCR0 belong to the guest whose VMCS is current on it.
 *
 * XCR0 is switched lazily: before an entry the CPU's XCR0 is set to the vCPU's if it
 * differs (XSETBV, with CR4.OSXSAVE set for that instruction only: SDM Vol 2C XSETBV),
 * and left so after the exit. Until a guest loads an XCR0 other than the reset value,
 * every CPU keeps the reset value too and the check is one load.
 *
 * The registers are saved when a vCPU's VMCS leaves a CPU and restored when it is
 * loaded (vmcs.c), so vCPUs sharing a CPU, or moving between CPUs, each keep their own:
 * FXSAVE/FXRSTOR for x87 and SSE (SDM Vol 1 10.5), and XSAVE/XRSTOR for the components
 * above SSE that the CPU's XCR0 had enabled (Vol 1 13.7, 13.8), into one area (the
 * legacy region is FXSAVE's format: 13.4.1). CR0.TS/EM and CR4.OSFXSR/OSXSAVE are set
 * around those instructions only.
 */
#include <arch/cpu.h>
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/smp.h>
#include <keel/string.h>

#include "cpu_model.h"
#include "xstate.h"

#define CR0_MP_EM_TS (CPU_CR0_PE << 1 | CPU_CR0_PE << 2 | CPU_CR0_PE << 3)
#define CR4_OSFXSR (1ull << 9)

static uint64_t xcr0_loaded[MAX_CPUS]; /* [p] this CPU's XCR0; 0: the reset value */
bool xstate_xcr0_ever_set;	       /* [a] a guest loaded an XCR0 other than x87 */

/* XCR0 components the guest may enable: the CPU's (CPUID.(0xD,0):EDX:EAX) within what
 * Keel offers; 0 without XSAVE (CPUID.1:ECX[26]). Asked once: the same on every CPU. */
uint64_t vcpu_xcr0_supported(void)
{
	static uint64_t supported; /* [a] bit 63 set once known */
	uint64_t known = __atomic_load_n(&supported, __ATOMIC_RELAXED);
	if (known)
		return known & ~(1ull << 63);
	uint32_t a, b, c, d;
	uint64_t s = 0;
	cpuid(1, 0, &a, &b, &c, &d);
	if ((c >> 26) & 1) {
		cpuid(0xD, 0, &a, &b, &c, &d);
		s = (((uint64_t)d << 32) | a) & CPU_XCR0_OFFERED;
	}
	__atomic_store_n(&supported, s | (1ull << 63), __ATOMIC_RELAXED);
	return s;
}

static void xsetbv(uint32_t xcr, uint64_t val)
{
	__asm__ __volatile__("xsetbv" ::"c"(xcr), "a"((uint32_t)val), "d"((uint32_t)(val >> 32)));
}

static uint64_t xcr0_now(unsigned cpu)
{
	return xcr0_loaded[cpu] ? xcr0_loaded[cpu] : CPU_XCR0_X87;
}

/* Sets this CPU's XCR0 to val if it differs. Interrupts off. */
static void xcr0_set(unsigned cpu, uint64_t val)
{
	if (xcr0_now(cpu) == val || !vcpu_xcr0_supported())
		return;
	uint64_t cr4 = read_cr4();
	write_cr4(cr4 | CPU_CR4_OSXSAVE);
	xsetbv(0, val);
	write_cr4(cr4);
	xcr0_loaded[cpu] = val;
}

void xstate_note_xcr0(uint64_t val)
{
	if (val != CPU_XCR0_X87)
		__atomic_store_n(&xstate_xcr0_ever_set, true, __ATOMIC_RELAXED);
}

void vcpu_xcr0_switch(struct vcpu *v)
{
	xcr0_set(this_cpu_id(), v->xcr0);
}

/* The legacy region at reset (Vol 1 10.5.1 "FXSAVE Area"; 8.1.5 the x87 control word,
 * 11.6.4 MXCSR): FCW 0x37F (x87 exceptions masked), MXCSR 0x1F80 (SSE exceptions
 * masked), registers zero. */
int vcpu_fpu_alloc(struct vcpu *v)
{
	if (v->fpu_area)
		return 0;
	v->fpu_area = frame_alloc(0, FRAME_KERNEL);
	if (!v->fpu_area)
		return -ENOMEM;
	v->fpu_kva = frame_kva(v->fpu_area);
	memset(v->fpu_kva, 0, PAGE_SIZE);
	*(uint16_t *)v->fpu_kva = 0x37F;
	*(uint32_t *)((uint8_t *)v->fpu_kva + 24) = 0x1F80;
	v->fpu_xcr0 = CPU_XCR0_X87;
	return 0;
}

void vcpu_fpu_free(struct vcpu *v)
{
	if (v->fpu_area)
		frame_free(v->fpu_area, 0);
	v->fpu_area = NULL;
	v->fpu_kva = NULL;
}

/* Runs the save (save = true) or restore of v's area with the FPU and the XSAVE
 * features usable; ext: the components above SSE to move, under XCR0 = xcr0. */
static void fpu_move(struct vcpu *v, bool save, uint64_t ext)
{
	uint64_t cr0 = read_cr0(), cr4 = read_cr4();
	write_cr0(cr0 & ~CR0_MP_EM_TS);
	write_cr4(cr4 | CR4_OSFXSR | (ext ? CPU_CR4_OSXSAVE : 0));
	uint32_t lo = (uint32_t)ext, hi = (uint32_t)(ext >> 32);
	if (save) {
		if (ext)
			__asm__ __volatile__("xsave64 (%0)" ::"r"(v->fpu_kva), "a"(lo), "d"(hi)
					     : "memory");
		__asm__ __volatile__("fxsave64 (%0)" ::"r"(v->fpu_kva) : "memory");
	} else {
		if (ext)
			__asm__ __volatile__("xrstor64 (%0)" ::"r"(v->fpu_kva), "a"(lo), "d"(hi)
					     : "memory");
		__asm__ __volatile__("fxrstor64 (%0)" ::"r"(v->fpu_kva) : "memory");
	}
	write_cr4(cr4);
	write_cr0(cr0);
}

/* XSAVE leaves the header's XSTATE_BV bits outside its mask as they were, and XRSTOR
 * raises #GP for a bit set there that XCR0 lacks (Vol 1 13.8.1): bits a larger XCR0
 * left behind are cleared. */
void vcpu_fpu_save(struct vcpu *v)
{
	uint64_t xcr0 = xcr0_now(this_cpu_id());
	uint64_t *xstate_bv = (uint64_t *)((uint8_t *)v->fpu_kva + 512);
	v->fpu_xcr0 = xcr0;
	fpu_move(v, true, xcr0 & ~(CPU_XCR0_X87 | CPU_XCR0_SSE));
	*xstate_bv &= xcr0;
}

/* Every component above SSE the CPU has enabled is restored too (XSTATE_BV clear for
 * the ones v never saved: they get their initial state, Vol 1 13.8.1), so another
 * vCPU's YMM/ZMM contents never stay in the registers for v to find after its own
 * XSETBV. The union of two valid XCR0 values is valid (13.3's rules are implications
 * and all-or-none groups). */
void vcpu_fpu_restore(struct vcpu *v)
{
	unsigned cpu = this_cpu_id();
	uint64_t xcr0 = v->fpu_xcr0 | xcr0_now(cpu);
	uint64_t ext = xcr0 & ~(CPU_XCR0_X87 | CPU_XCR0_SSE);
	if (ext)
		xcr0_set(cpu, xcr0);
	fpu_move(v, false, ext);
}
