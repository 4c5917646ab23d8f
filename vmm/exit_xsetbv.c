/*
 * XSETBV exits (unconditional in VMX non-root operation, SDM Vol 3C 26.1.2; exit
 * reason 55) and the guest's XCR0 on the CPU. The CPU has already raised #UD (CR4.
 * OSXSAVE clear) and #GP (CPL > 0) before exiting (26.1.1: faults based on privilege
 * level come first), but both are checked again here; ECX must name XCR0, and the value
 * must pass cpu_model_xcr0_check.
 *
 * XCR0 is switched lazily: before an entry, the CPU's XCR0 is set to the vCPU's if it
 * differs (XSETBV with CR4.OSXSAVE set for that instruction only), and left so after
 * the exit. Keel's own code is built with general registers only (no SSE/AVX, no
 * XSAVE), so XCR0 matters only to guests. Known gap: the guests' x87/SSE/AVX register
 * contents themselves are not saved when another vCPU runs on the CPU.
 */
#include <arch/cpu.h>
#include <keel/smp.h>

#include "cpu_model.h"
#include "exit_handlers.h"
#include "vcpu.h"
#include "vmcs.h"

static uint64_t xcr0_loaded[MAX_CPUS]; /* [p] 0: not known yet */
static bool xcr0_ever_set;	       /* [a] a guest loaded an XCR0 other than x87 */

static void xsetbv(uint32_t xcr, uint64_t val)
{
	__asm__ __volatile__("xsetbv" ::"c"(xcr), "a"((uint32_t)val), "d"((uint32_t)(val >> 32)));
}

/* Until some guest loads an XCR0 other than its reset value, every CPU keeps the
 * reset value too (Keel never changes it): nothing to do, one load per entry. */
void vcpu_xcr0_load(struct vcpu *v)
{
	if (!__atomic_load_n(&xcr0_ever_set, __ATOMIC_RELAXED))
		return;
	unsigned cpu = this_cpu_id();
	uint64_t want = v->xcr0;
	if (xcr0_loaded[cpu] == want || !vcpu_xcr0_supported())
		return;
	uint64_t cr4 = read_cr4();
	write_cr4(cr4 | CPU_CR4_OSXSAVE);
	xsetbv(0, want);
	write_cr4(cr4);
	xcr0_loaded[cpu] = want;
}

enum exit_action exit_xsetbv(struct vcpu *v)
{
	struct cpu_mode m = vmcs_mode_read();
	unsigned cpl = (vmread(VMCS_GUEST_SS_AR) >> 5) & 3; /* SS.DPL (Vol 3A 5.5) */
	uint64_t val = ((v->regs.rdx & 0xFFFFFFFFull) << 32) | (uint32_t)v->regs.rax;
	if (!(m.cr4 & CPU_CR4_OSXSAVE)) {
		vcpu_inject(v, 6, false, 0); /* #UD */
		return EXIT_RESUME;
	}
	if (cpl != 0 || (uint32_t)v->regs.rcx != 0 ||
	    cpu_model_xcr0_check(val, vcpu_xcr0_supported())) {
		vcpu_inject_gp(v);
		return EXIT_RESUME;
	}
	v->xcr0 = val;
	if (val != CPU_XCR0_X87)
		__atomic_store_n(&xcr0_ever_set, true, __ATOMIC_RELAXED);
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}
