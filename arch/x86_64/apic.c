/*
 * Local APIC and legacy PIC. One APIC mode for the whole machine, chosen on the boot
 * CPU: x2APIC (registers are MSRs 0x800+, SDM Vol 3A 11.12 "Extended XAPIC (x2APIC)")
 * when CPUID.01H:ECX[21] reports it, else xAPIC (4 KiB of MMIO registers, SDM Vol 3A
 * 11.4 "Local APIC"). The command line can force either (apic=xapic|x2apic).
 * Owns: APIC register access, the 8259 PICs, IPIs, the APIC timer hardware.
 * Does not know what the vectors mean (kernel/, time.c and smp.c decide that).
 */
#include "kmap.h"
#include <arch/acpi.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/time.h>
#include <arch/x86.h>
#include <keel/cmdline.h>
#include <keel/printk.h>
#include <keel/string.h>
#include <keel/time.h>

CMDLINE_OPT(apic, "apic", CMDLINE_STR, 0, 0,
	    "local APIC mode: xapic or x2apic (default: x2apic if the CPU has it)");

/* Register offsets in the xAPIC page (SDM Vol 3A Table 11-1 "Local APIC Register
 * Address Map"); the x2APIC MSR is 0x800 + offset / 16 (Table 11-6). */
enum {
	APIC_ID = 0x20,
	APIC_VERSION = 0x30,
	APIC_TPR = 0x80,
	APIC_EOI = 0xB0,
	APIC_SVR = 0xF0,
	APIC_ESR = 0x280,
	APIC_ICR_LO = 0x300,
	APIC_ICR_HI = 0x310,
	APIC_LVT_TIMER = 0x320,
	APIC_LVT_THERMAL = 0x330,
	APIC_LVT_PERF = 0x340,
	APIC_LVT_LINT0 = 0x350,
	APIC_LVT_LINT1 = 0x360,
	APIC_LVT_ERROR = 0x370,
	APIC_TIMER_INIT = 0x380,
	APIC_TIMER_CURRENT = 0x390,
	APIC_TIMER_DIVIDE = 0x3E0,
};
#define X2APIC_MSR(off) (0x800u + ((off) >> 4))

/* IA32_APIC_BASE (SDM Vol 3A 11.4.4 "Local APIC Status and Location", 11.12.1). */
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_EXTD (1ull << 10) /* x2APIC mode */
#define APIC_BASE_EN (1ull << 11)   /* global enable */
#define APIC_BASE_ADDR_MASK 0x000FFFFFFFFFF000ull

#define SVR_ENABLE (1u << 8)  /* SDM Vol 3A 11.9 "Spurious Interrupt" */
#define LVT_MASKED (1u << 16) /* SDM Vol 3A 11.5.1 "Local Vector Table" */
#define LVT_DM_NMI (4u << 8)
#define LVT_TIMER_PERIODIC (1u << 17)
#define TIMER_DIVIDE_16 0x3 /* SDM Vol 3A 11.5.4 "APIC Timer", Figure 11-10 */
#define TIMER_DIVISOR 16

/* Interrupt Command Register (SDM Vol 3A 11.6.1, Figure 11-12; 11.12.9 for x2APIC). */
#define ICR_DM_FIXED (0u << 8)
#define ICR_DM_NMI (4u << 8)
#define ICR_DM_INIT (5u << 8)
#define ICR_DM_STARTUP (6u << 8)
#define ICR_PENDING (1u << 12) /* delivery status (xAPIC only) */
#define ICR_ASSERT (1u << 14)
#define ICR_DEST_SELF (1u << 18)
#define ICR_DEST_ALL_BUT_SELF (3u << 18)
#define ICR_WAIT_LOOPS 10000000u

static bool x2apic;		      /* [c] after apic_init_bsp */
static volatile uint32_t *xapic_regs; /* [c] xAPIC page in the direct map */
static uint64_t timer_hz;	      /* [c] APIC timer input after the divider, Hz */
static uint64_t spurious_count;	      /* [a] */

static uint32_t apic_read(unsigned off)
{
	if (x2apic)
		return (uint32_t)rdmsr(X2APIC_MSR(off));
	return xapic_regs[off / 4];
}

static void apic_write(unsigned off, uint32_t v)
{
	if (x2apic)
		wrmsr(X2APIC_MSR(off), v);
	else
		xapic_regs[off / 4] = v;
}

bool apic_is_x2apic(void)
{
	return x2apic;
}

const char *apic_mode_name(void)
{
	return x2apic ? "x2APIC" : "xAPIC";
}

uint32_t apic_id_self(void)
{
	uint32_t id = apic_read(APIC_ID);
	return x2apic ? id : id >> 24; /* xAPIC: ID in bits 31:24 (SDM Vol 3A 11.4.6) */
}

uint32_t apic_id_max(void)
{
	return x2apic ? 0xFFFFFFFEu : 0xFEu; /* all-ones is the broadcast ID */
}

void apic_eoi(void)
{
	apic_write(APIC_EOI, 0); /* x2APIC: a nonzero value raises #GP (SDM 11.12.1) */
}

/*
 * Legacy 8259 PICs: the BIOS leaves them at vector base 8, over the exceptions.
 * Reprogram them (ICW1-ICW4, Intel 8259A data sheet) to 0x20/0x28 so a stray
 * interrupt is recognisable, then mask every line (OCW1): the APICs deliver all.
 */
static void pic_disable(void)
{
	static const struct {
		uint16_t port;
		uint8_t val;
	} seq[] = {
		{ 0x20, 0x11 }, { 0xA0, 0x11 }, /* ICW1: edge, cascade, ICW4 follows */
		{ 0x21, 0x20 }, { 0xA1, 0x28 }, /* ICW2: vector bases */
		{ 0x21, 0x04 }, { 0xA1, 0x02 }, /* ICW3: slave on IRQ2 */
		{ 0x21, 0x01 }, { 0xA1, 0x01 }, /* ICW4: 8086 mode */
		{ 0x21, 0xFF }, { 0xA1, 0xFF }, /* OCW1: mask all */
	};
	for (size_t i = 0; i < ARRAY_SIZE(seq); i++) {
		outb(seq[i].port, seq[i].val);
		outb(0x80, 0); /* a short delay for old PICs */
	}
}

static bool want_x2apic(bool cpu_has)
{
	char mode[16] = "";
	cmdline_get_str("apic", mode, sizeof(mode));
	if (!strcmp(mode, "xapic"))
		return false;
	if (mode[0] && strcmp(mode, "x2apic"))
		printk(KERN_WARN
		       "apic: unknown mode apic=%s (xapic or x2apic); using the default\n",
		       mode);
	if (!strcmp(mode, "x2apic") && !cpu_has)
		printk(KERN_WARN "apic: apic=x2apic but the CPU has no x2APIC; using xAPIC\n");
	return cpu_has;
}

/* Enables the APIC globally in the chosen mode. Transitions: SDM Vol 3A 11.12.5
 * "x2APIC State Transitions" (x2APIC -> xAPIC only through disabled; xAPIC -> x2APIC
 * directly). */
static void apic_enable_mode(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);
	if ((base & APIC_BASE_EXTD) && !x2apic) {
		base &= ~(APIC_BASE_EN | APIC_BASE_EXTD);
		wrmsr(MSR_APIC_BASE, base);
	}
	base |= APIC_BASE_EN;
	wrmsr(MSR_APIC_BASE, base);
	if (x2apic)
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_EXTD);
}

/* Per-CPU register set-up shared by the BSP and the APs (SDM Vol 3A 11.4.7,
 * 11.5.1, 11.9). LINT1 carries NMI on the boot CPU only, as firmware wires it. */
static void apic_setup_local(bool bsp)
{
	uint32_t max_lvt = (apic_read(APIC_VERSION) >> 16) & 0xFF;
	apic_write(APIC_TPR, 0);
	apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_LAPIC_TIMER);
	apic_write(APIC_LVT_LINT0, LVT_MASKED);
	apic_write(APIC_LVT_LINT1, bsp ? LVT_DM_NMI : LVT_MASKED);
	apic_write(APIC_LVT_ERROR, LVT_MASKED);
	if (max_lvt >= 4)
		apic_write(APIC_LVT_PERF, LVT_MASKED);
	if (max_lvt >= 5)
		apic_write(APIC_LVT_THERMAL, LVT_MASKED);
	apic_write(APIC_ESR, 0); /* clears the error status (write, then read) */
	(void)apic_read(APIC_ESR);
	apic_write(APIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	apic_eoi(); /* drop anything the firmware left in service */
}

/* SDM Vol 3A 11.9: no EOI for a spurious interrupt. */
static void spurious_irq(struct trap_frame *tf)
{
	__atomic_fetch_add(&spurious_count, 1, __ATOMIC_RELAXED);
}

static void ipi_test_irq(struct trap_frame *tf)
{
	__atomic_fetch_add(&this_cpu()->ipi_test_count, 1, __ATOMIC_RELEASE);
	apic_eoi();
}

void apic_init_bsp(void)
{
	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	pic_disable();
	if (!(d & (1u << 9))) /* CPUID.01H:EDX[9] APIC on chip */
		printk(KERN_ERR "apic: CPUID reports no local APIC; continuing regardless\n");
	x2apic = want_x2apic(c & (1u << 21)); /* CPUID.01H:ECX[21] x2APIC */
	uint64_t base = rdmsr(MSR_APIC_BASE);
	paddr_t pa = PA(base & APIC_BASE_ADDR_MASK);
	if (acpi_info.have_madt && acpi_info.lapic_base.v != pa.v)
		printk(KERN_WARN
		       "apic: MADT says LAPIC at %llx, IA32_APIC_BASE %llx; using the MSR\n",
		       (unsigned long long)acpi_info.lapic_base.v, (unsigned long long)pa.v);
	if (!x2apic) {
		/* The APIC registers must be UC (SDM Vol 3A 11.4.1), whatever the MTRRs say. */
		kmap_set_uncached(pa, PAGE_SIZE);
		xapic_regs = pa_to_kva(pa);
	}
	apic_enable_mode();
	apic_setup_local(true);
	cpus[0].apic_id = apic_id_self();
	irq_set_handler(VEC_SPURIOUS, spurious_irq);
	irq_set_handler(VEC_IPI_TEST, ipi_test_irq);
	printk("apic: %s mode, BSP APIC ID %u%s\n", apic_mode_name(), cpus[0].apic_id,
	       x2apic ? "" : " (MMIO mapped uncached)");
}

void apic_init_ap(void)
{
	apic_enable_mode();
	apic_setup_local(false);
}

/* xAPIC: spins until the previous IPI left the ICR (delivery status idle). Bounded:
 * a stuck ICR is reported once, never waited on forever. */
static void icr_wait_idle(void)
{
	static bool warned;
	for (uint32_t i = 0; i < ICR_WAIT_LOOPS; i++) {
		if (!(xapic_regs[APIC_ICR_LO / 4] & ICR_PENDING))
			return;
		cpu_pause();
	}
	if (!warned) {
		warned = true;
		printk(KERN_WARN "apic: ICR delivery status stuck busy on CPU %u\n", arch_cpu_id());
	}
}

/* Writes the ICR with interrupts off: in xAPIC mode the high half and the low half
 * (which sends) must not be split by an interrupt handler that sends an IPI itself. */
static void icr_send(uint32_t dest, uint32_t low)
{
	unsigned long flags = arch_irq_save();
	if (x2apic) {
		/* WRMSR to x2APIC registers is not serialising (SDM Vol 3A 11.12.3): fence so
		 * stores that the IPI announces are visible before it arrives. */
		__asm__ __volatile__("mfence; lfence" ::: "memory");
		wrmsr(X2APIC_MSR(APIC_ICR_LO), ((uint64_t)dest << 32) | low);
	} else {
		icr_wait_idle();
		xapic_regs[APIC_ICR_HI / 4] = dest << 24;
		xapic_regs[APIC_ICR_LO / 4] = low;
		icr_wait_idle();
	}
	arch_irq_restore(flags);
}

void apic_send_ipi(uint32_t apic_id, uint8_t vector)
{
	icr_send(apic_id, ICR_DM_FIXED | ICR_ASSERT | vector);
}

void apic_send_ipi_mask(cpumask_t set, uint8_t vector)
{
	unsigned cpu;
	cpumask_for_each (cpu, set)
		apic_send_ipi(cpus[cpu].apic_id, vector);
}

void apic_send_ipi_all_but_self(uint8_t vector)
{
	icr_send(0, ICR_DEST_ALL_BUT_SELF | ICR_DM_FIXED | ICR_ASSERT | vector);
}

void apic_send_ipi_self(uint8_t vector)
{
	icr_send(0, ICR_DEST_SELF | ICR_DM_FIXED | ICR_ASSERT | vector);
}

void apic_send_nmi(uint32_t apic_id)
{
	icr_send(apic_id, ICR_DM_NMI | ICR_ASSERT);
}

void apic_send_nmi_all_but_self(void)
{
	icr_send(0, ICR_DEST_ALL_BUT_SELF | ICR_DM_NMI | ICR_ASSERT);
}

void apic_send_init(uint32_t apic_id)
{
	icr_send(apic_id, ICR_DM_INIT | ICR_ASSERT);
}

void apic_send_sipi(uint32_t apic_id, uint8_t page)
{
	icr_send(apic_id, ICR_DM_STARTUP | ICR_ASSERT | page);
}

/* One measurement: APIC timer counts during about 10 ms of TSC time. 0 on failure. */
static uint64_t timer_measure(uint64_t tsc_hz)
{
	uint64_t window = tsc_hz / 100;
	apic_write(APIC_TIMER_DIVIDE, TIMER_DIVIDE_16);
	apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_LAPIC_TIMER); /* one-shot, masked */
	unsigned long flags = arch_irq_save();
	apic_write(APIC_TIMER_INIT, 0xFFFFFFFFu);
	uint64_t t0 = rdtsc(), t1;
	while ((t1 = rdtsc()) - t0 < window)
		cpu_pause();
	uint32_t left = apic_read(APIC_TIMER_CURRENT);
	arch_irq_restore(flags);
	apic_write(APIC_TIMER_INIT, 0);
	if (left == 0) /* ran out: input above 400 GHz, not plausible */
		return 0;
	return muldiv64(0xFFFFFFFFu - left, tsc_hz, t1 - t0);
}

uint64_t apic_timer_calibrate(void)
{
	uint64_t tsc_hz = time_cycles_hz(), m[3];
	if (!tsc_hz)
		return 0;
	for (int i = 0; i < 3; i++)
		m[i] = timer_measure(tsc_hz);
	/* median of three: one run disturbed by the host scheduler does not matter */
	uint64_t lo = MIN(m[0], m[1]), hi = MAX(m[0], m[1]);
	timer_hz = MAX(lo, MIN(hi, m[2]));
	return timer_hz;
}

uint64_t apic_timer_hz(void)
{
	return timer_hz;
}

void apic_timer_periodic(uint8_t vector, unsigned hz)
{
	uint64_t count = hz && timer_hz ? timer_hz / hz : 0;
	if (!count || count > 0xFFFFFFFFu) {
		printk(KERN_ERR "apic: cannot tick at %u Hz (timer input %llu Hz)\n", hz,
		       (unsigned long long)timer_hz);
		return;
	}
	apic_write(APIC_TIMER_DIVIDE, TIMER_DIVIDE_16);
	apic_write(APIC_LVT_TIMER, LVT_TIMER_PERIODIC | vector);
	apic_write(APIC_TIMER_INIT, (uint32_t)count); /* writing the count starts it */
}

void apic_timer_stop(void)
{
	apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_LAPIC_TIMER);
	apic_write(APIC_TIMER_INIT, 0);
}

uint32_t apic_timer_current(void)
{
	return apic_read(APIC_TIMER_CURRENT);
}
