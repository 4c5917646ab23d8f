/*
 * crash=KIND: crashes on purpose after start-up so the runner can check the fatal path
 * end to end (readable dump with vector, error code, CR2, registers and a symbolised
 * backtrace, then a failing exit). Kinds: pf (write to an unmapped address), ud
 * (invalid opcode), gp (non-canonical access), panic (CHECK failure), hang (spin under
 * the watchdog), hang-irqoff (spin with interrupts off: another CPU's tick must see it).
 */
#include <arch/x86.h>
#include <keel/check.h>
#include <keel/cmdline.h>
#include <keel/printk.h>
#include <keel/string.h>
#include <keel/watchdog.h>

CMDLINE_OPT(crash, "crash", CMDLINE_STR, 0, 0,
	    "fail on purpose: pf|ud|gp|panic|hang|hang-irqoff (tests the failure paths)");

static __attribute__((noinline)) void crash_write_unmapped(void)
{
	*(volatile uint64_t *)0x1000 = 0xbad;
}

static __attribute__((noinline)) void crash_noncanonical(void)
{
	(void)*(volatile uint64_t *)0x8000000000000000ull;
}

static void crash_hang(bool irqs_off)
{
	watchdog_arm(irqs_off ? "crash=hang-irqoff" : "crash=hang");
	if (irqs_off)
		cli();
	for (;;)
		cpu_pause();
}

void crash_selftest(void)
{
	char kind[16];
	if (!cmdline_get_str("crash", kind, sizeof(kind)))
		return;
	printk("crash: crashing on purpose (crash=%s)\n", kind);
	if (!strcmp(kind, "pf"))
		crash_write_unmapped();
	else if (!strcmp(kind, "ud"))
		__asm__ __volatile__("ud2");
	else if (!strcmp(kind, "gp"))
		crash_noncanonical();
	else if (!strcmp(kind, "panic"))
		CHECK(kind[0] == 'x');
	else if (!strcmp(kind, "hang") || !strcmp(kind, "hang-irqoff"))
		crash_hang(!strcmp(kind, "hang-irqoff"));
	printk(KERN_ERR "crash: unknown kind '%s' (pf|ud|gp|panic|hang|hang-irqoff)\n", kind);
}
