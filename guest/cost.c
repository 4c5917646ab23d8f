/*
 * cost: what one exit round trip costs, in TSC cycles (under Bochs: emulated
 * instructions, exact and repeatable), measured from inside the guest:
 *   CPUID (the cheapest exit Keel handles), the nop hypercall, a hypercall number Keel
 *   does not know (-ENOSYS: the VMCALL exit without the table's argument step and
 *   handler), vcpu_info, the MSR path (RDMSR of EFER, WRMSR of KERNEL_GS_BASE), a
 *   dword MOV to the I/O APIC's IOREGSEL (an EPT violation through the MMIO path: fetch,
 *   decode, device write), an x2APIC EOI (WRMSR to the local APIC's MSR path) and a
 *   local APIC timer interrupt (arming WRMSR of a 1-tick one-shot, the timer's exit and
 *   injection, the handler's EOI WRMSR, IRET). Each is the minimum, median and maximum over ROUNDS rounds
 *   of CALLS calls, after a warm-up. Prints one line per figure, "cost: NAME min M median
 *   D max X cycles/round trip" and a summary line; checks nothing about speed (make bench
 *   runs it; no test does). Run with mem=4M.
 */
#include "x2apic.h"

#define CALLS 500u
#define ROUNDS 9u

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

enum op {
	OP_CPUID,
	OP_NOP,
	OP_UNKNOWN,
	OP_VCPU_INFO,
	OP_RDMSR,
	OP_WRMSR,
	OP_MMIO,
	OP_EOI,
	OP_TIMER,
	OP_COUNT
};
static const char *const names[OP_COUNT] = { "cpuid",	     "hc_nop",	   "hc_unknown",
					     "hc_vcpu_info", "rdmsr_efer", "wrmsr_kgs",
					     "mmio_write",   "x2apic_eoi", "apic_timer_irq" };

/* The MSR path: RDMSR of EFER (a VMCS-field row of the MSR table), WRMSR of
 * KERNEL_GS_BASE (a row kept in the vCPU's MSR list). */
static inline void msr_op(bool write)
{
	uint32_t lo = 0, hi = 0;
	if (write)
		__asm__ volatile("wrmsr" ::"c"(0xC0000102u), "a"(0x1000u), "d"(0u));
	else
		__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xC0000080u));
}

#define IOAPIC 0xFEC00000u
/* A PD for 3-4 GiB mapping the I/O APIC's 2 MiB page uncached (Keel's tables stop at 1 GiB). */
static uint64_t pd_high[512] __attribute__((aligned(4096)));

static void map_ioapic(void)
{
	pd_high[(IOAPIC >> 21) & 511] = IOAPIC | 0x9B;		     /* P RW PWT PCD PS */
	((uint64_t *)(uintptr_t)0x2000)[3] = (uintptr_t)pd_high | 3; /* Keel's PDPT */
	uintptr_t cr3;
	__asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

#define V_TIMER 0x40

static volatile unsigned ticks;

__attribute__((interrupt)) static void on_timer(struct irq_frame *f)
{
	(void)f;
	ticks++;
	x2apic_eoi();
}

/* One timer interrupt: a 1-tick one-shot (divide by 1) fires before the next entry and
 * is injected at once (IF = 1). */
static void timer_irq(void)
{
	unsigned t = ticks;
	wrmsr(X2APIC_TIMER_INIT, 1);
	while (ticks == t)
		cpu_pause();
}

static void run(enum op op)
{
	uint32_t a, b, c, d;
	for (unsigned i = 0; i < CALLS; i++) {
		switch (op) {
		case OP_CPUID:
			cpuid(0, &a, &b, &c, &d);
			break;
		case OP_NOP:
			(void)keel_nop();
			break;
		case OP_UNKNOWN:
			(void)keel_hypercall(1000, 0, 0, 0);
			break;
		case OP_RDMSR:
		case OP_WRMSR:
			msr_op(op == OP_WRMSR);
			break;
		case OP_MMIO:
			__asm__ volatile("movl %0, (%1)"
					 :
					 : "r"(1), "r"((uintptr_t)IOAPIC)
					 : "memory");
			break;
		case OP_EOI:
			x2apic_eoi();
			break;
		case OP_TIMER:
			timer_irq();
			break;
		default:
			(void)keel_vcpu_info();
		}
	}
}

static void sort(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)arg;
	(void)vcpu;
	(void)vcpu_count;
	uint64_t median[OP_COUNT];
	map_ioapic();
	idt_set(V_TIMER, on_timer);
	idt_load();
	x2apic_enable();
	wrmsr(X2APIC_TIMER_DCR, 0xB);
	wrmsr(X2APIC_LVT_TIMER, V_TIMER);
	sti();
	for (unsigned op = 0; op < OP_COUNT; op++) {
		uint64_t per[ROUNDS];
		run((enum op)op); /* warm-up */
		for (unsigned r = 0; r < ROUNDS; r++) {
			uint64_t t0 = rdtsc();
			run((enum op)op);
			per[r] = (rdtsc() - t0) / CALLS;
		}
		sort(per, ROUNDS);
		median[op] = per[ROUNDS / 2];
		printf("cost: %s min %llu median %llu max %llu cycles/round trip "
		       "(%u rounds of %u)\n",
		       names[op], (unsigned long long)per[0], (unsigned long long)median[op],
		       (unsigned long long)per[ROUNDS - 1], ROUNDS, CALLS);
	}
	printf("cost: summary cpuid=%llu hc_nop=%llu hc_unknown=%llu hc_vcpu_info=%llu "
	       "rdmsr_efer=%llu wrmsr_kgs=%llu mmio_write=%llu x2apic_eoi=%llu "
	       "apic_timer_irq=%llu\n",
	       (unsigned long long)median[OP_CPUID], (unsigned long long)median[OP_NOP],
	       (unsigned long long)median[OP_UNKNOWN], (unsigned long long)median[OP_VCPU_INFO],
	       (unsigned long long)median[OP_RDMSR], (unsigned long long)median[OP_WRMSR],
	       (unsigned long long)median[OP_MMIO], (unsigned long long)median[OP_EOI],
	       (unsigned long long)median[OP_TIMER]);
	return 0;
}
