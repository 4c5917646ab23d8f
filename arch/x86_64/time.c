/*
 * Timekeeping on x86-64: the TSC is the clock (time_ns, udelay), calibrated once at
 * boot against PIT channel 2 (1.193182 MHz, gated through port 0x61); the local APIC
 * timer, calibrated against the TSC, gives each CPU a periodic tick.
 * Every wait here is bounded: emulators run clocks oddly (QEMU TCG counts the host
 * TSC, Bochs counts instructions), and a dead PIT must not hang the boot.
 * Owns the tick vector's meaning; apic.c owns the timer hardware.
 */
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/time.h>
#include <arch/x86.h>
#include <keel/printk.h>
#include <keel/sched.h>
#include <keel/time.h>
#include <keel/watchdog.h>

#define PIT_HZ 1193182u
#define PIT_CH2_DATA 0x42
#define PIT_CMD 0x43
#define PORT_B 0x61 /* bit 0: channel 2 gate, bit 1: speaker, bit 5: channel 2 OUT */
#define PIT_CALIB_MS 10
#define PIT_CALIB_RUNS 5
#define PIT_POLL_MAX 5000000u /* polls of port 0x61 before declaring the PIT dead */
#define TICK_HZ 100

uint64_t time_tsc_base;
static uint64_t tsc_hz;	 /* [c] after time_init */
static uint64_t ns_mult; /* [c] nanoseconds per TSC cycle, 32.32 fixed point */

/* [p] written by the owning CPU's tick, read atomically by anyone */
static struct {
	uint64_t ticks;
} __aligned(64) tick_state[MAX_CPUS];

/*
 * Runs PIT channel 2 in mode 0 ("interrupt on terminal count": OUT rises when the
 * count reaches 0) for count input clocks, speaker off. Returns the TSC cycles that
 * took, or 0 if OUT never rose within PIT_POLL_MAX polls.
 */
static uint64_t pit_ch2_run(uint16_t count)
{
	uint8_t portb = inb(PORT_B) & ~0x03;
	outb(PORT_B, portb); /* gate low: the counter loads but does not count */
	outb(PIT_CMD, 0xB0); /* channel 2, lobyte/hibyte, mode 0, binary */
	outb(PIT_CH2_DATA, count & 0xFF);
	outb(PIT_CH2_DATA, count >> 8);
	outb(PORT_B, portb | 0x01); /* gate high: counting starts */
	uint64_t t0 = rdtsc(), t1 = 0;
	for (uint32_t i = 0; i < PIT_POLL_MAX; i++) {
		if (inb(PORT_B) & 0x20) {
			t1 = rdtsc();
			break;
		}
	}
	outb(PORT_B, portb);
	return t1 ? t1 - t0 : 0;
}

void pit_delay_us(uint64_t us)
{
	while (us) {
		uint64_t chunk = MIN(us, 50000ull); /* 50 ms < 65535 PIT clocks */
		(void)pit_ch2_run((uint16_t)(chunk * PIT_HZ / 1000000 + 1));
		us -= chunk;
	}
}

/* Median of PIT_CALIB_RUNS measurements of PIT_CALIB_MS each; 0 if the PIT is dead. */
static uint64_t tsc_calibrate_pit(uint64_t *spread_ppm)
{
	const uint16_t count = PIT_HZ / 1000 * PIT_CALIB_MS;
	uint64_t hz[PIT_CALIB_RUNS];
	unsigned long flags = arch_irq_save();
	for (int i = 0; i < PIT_CALIB_RUNS; i++) {
		uint64_t cycles = pit_ch2_run(count);
		if (!cycles) {
			arch_irq_restore(flags);
			return 0;
		}
		hz[i] = muldiv64(cycles, PIT_HZ, count);
	}
	arch_irq_restore(flags);
	for (int i = 1; i < PIT_CALIB_RUNS; i++) /* insertion sort, 5 entries */
		for (int j = i; j > 0 && hz[j - 1] > hz[j]; j--) {
			uint64_t t = hz[j];
			hz[j] = hz[j - 1];
			hz[j - 1] = t;
		}
	uint64_t med = hz[PIT_CALIB_RUNS / 2];
	*spread_ppm = med ? muldiv64(hz[PIT_CALIB_RUNS - 1] - hz[0], 1000000, med) : 0;
	return med;
}

/* CPUID leaf 15H (TSC/crystal ratio) or 16H (base MHz): SDM Vol 2A CPUID. 0 if absent. */
static uint64_t tsc_hz_from_cpuid(void)
{
	uint32_t max, a, b, c, d;
	cpuid(0, 0, &max, &b, &c, &d);
	if (max >= 0x15) {
		cpuid(0x15, 0, &a, &b, &c, &d);
		if (a && b && c)
			return muldiv64(c, b, a);
	}
	if (max >= 0x16) {
		cpuid(0x16, 0, &a, &b, &c, &d);
		if (a & 0xFFFF)
			return (uint64_t)(a & 0xFFFF) * 1000000;
	}
	return 0;
}

static bool tsc_is_invariant(void)
{
	uint32_t max, a, b, c, d;
	cpuid(0x80000000, 0, &max, &b, &c, &d);
	if (max < 0x80000007)
		return false;
	cpuid(0x80000007, 0, &a, &b, &c, &d);
	return d & (1u << 8); /* SDM Vol 3B 19.17.1 "Invariant TSC" */
}

static void tick_irq(struct trap_frame *tf)
{
	time_tick();
	sched_tick();
	apic_eoi();
}

static void tsc_init(void)
{
	uint64_t spread = 0, hz = tsc_calibrate_pit(&spread);
	const char *src = "PIT";
	if (!hz) {
		hz = tsc_hz_from_cpuid();
		src = "CPUID (PIT channel 2 did not count)";
	}
	if (!hz) {
		hz = 1000000000ull;
		src = "a guess: PIT dead, no CPUID frequency; delays will be wrong";
	}
	tsc_hz = hz;
	ns_mult = (NSEC_PER_SEC << 32) / hz;
	time_tsc_base = rdtsc();
	char extra[64] = "";
	if (spread)
		snprintf(extra, sizeof(extra), " (%d runs of %d ms, spread %llu ppm)",
			 PIT_CALIB_RUNS, PIT_CALIB_MS, (unsigned long long)spread);
	printk("time: TSC %llu.%06llu MHz from %s%s, %s\n", (unsigned long long)(hz / 1000000),
	       (unsigned long long)(hz % 1000000), src, extra,
	       tsc_is_invariant() ? "invariant" : "not invariant");
}

void time_init(void)
{
	tsc_init();
	uint64_t ahz = apic_timer_calibrate();
	printk("time: APIC timer %llu.%06llu MHz (after /16), tick %u Hz\n",
	       (unsigned long long)(ahz / 1000000), (unsigned long long)(ahz % 1000000), TICK_HZ);
	irq_set_handler(VEC_LAPIC_TIMER, tick_irq);
	time_init_ap();
}

void time_init_ap(void)
{
	apic_timer_periodic(VEC_LAPIC_TIMER, TICK_HZ);
}

uint64_t time_ns(void)
{
	if (!ns_mult)
		return 0;
	uint64_t delta = rdtsc() - time_tsc_base;
	return (uint64_t)(((unsigned __int128)delta * ns_mult) >> 32);
}

void udelay(uint64_t us)
{
	if (!tsc_hz) {
		pit_delay_us(us);
		return;
	}
	uint64_t t0 = rdtsc(), cycles = muldiv64(us, tsc_hz, 1000000);
	while (rdtsc() - t0 < cycles)
		cpu_pause();
}

void mdelay(uint64_t ms)
{
	udelay(ms * 1000);
}

uint64_t time_cycles_hz(void)
{
	return tsc_hz;
}

unsigned time_tick_hz(void)
{
	return TICK_HZ;
}

uint64_t time_tick_count(unsigned cpu)
{
	return cpu < MAX_CPUS ? __atomic_load_n(&tick_state[cpu].ticks, __ATOMIC_RELAXED) : 0;
}

void time_tick(void)
{
	__atomic_fetch_add(&tick_state[arch_cpu_id()].ticks, 1, __ATOMIC_RELAXED);
	watchdog_tick();
}
