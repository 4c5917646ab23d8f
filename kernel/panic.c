/*
 * panic: the end of the line for states that must never occur. Prints the message,
 * this CPU's registers and a backtrace, stops the other CPUs and exits the emulator
 * with the failure status (so a test run fails instead of hanging).
 */
#include <keel/arch.h>
#include <keel/check.h>
#include <keel/console.h>
#include <keel/kernel.h>
#include <keel/printk.h>
#include <keel/smp.h>

static volatile int panicking;

void panic_at(const char *file, int line, const char *fmt, ...)
{
	arch_irq_save();
	if (__atomic_exchange_n(&panicking, 1, __ATOMIC_ACQ_REL)) {
		for (;;) /* another CPU is already panicking: let it report */
			arch_halt();
	}
	printk_break_lock();
	smp_stop_others();
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printk(KERN_EMERG "KEEL PANIC on CPU %u: %s:%d: %s\n", arch_cpu_id(), file, line, msg);
	arch_dump_here();
	printk(KERN_EMERG "KEEL-VERDICT: FAIL (panic)\n");
	arch_exit(false);
}
