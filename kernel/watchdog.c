/*
 * Test watchdog: the runner arms it around each kernel test; every CPU's timer tick
 * calls watchdog_tick, so a test that hangs (even with interrupts off on its own CPU,
 * when another CPU is online) ends the run as a failure naming the test, instead of
 * waiting for the emulator runner's outer timeout.
 */
#include <keel/cmdline.h>
#include <keel/kernel.h>
#include <keel/printk.h>
#include <keel/smp.h>
#include <keel/time.h>
#include <keel/watchdog.h>

CMDLINE_OPT(watchdog, "watchdog", CMDLINE_INT, 0, 3600,
	    "seconds one kernel test may run before the run fails (default 120, 0: off)");

static uint64_t deadline_ns; /* [a] 0: disarmed */
static const char *volatile watched;
static int fired; /* [a] */

void watchdog_arm(const char *what)
{
	long secs = cmdline_get_int("watchdog", 120);
	watched = what;
	__atomic_store_n(&deadline_ns, secs ? time_ns() + (uint64_t)secs * NSEC_PER_SEC : 0,
			 __ATOMIC_RELEASE);
}

void watchdog_disarm(void)
{
	__atomic_store_n(&deadline_ns, 0, __ATOMIC_RELEASE);
}

void watchdog_tick(void)
{
	uint64_t deadline = __atomic_load_n(&deadline_ns, __ATOMIC_ACQUIRE);
	if (!deadline || time_ns() < deadline)
		return;
	if (__atomic_exchange_n(&fired, 1, __ATOMIC_ACQ_REL))
		return;
	printk_break_lock();
	printk("not ok - %s # watchdog: no result after %ld s (seen from CPU %u)\n", watched,
	       cmdline_get_int("watchdog", 120), arch_cpu_id());
	printk("KEEL-VERDICT: FAIL (watchdog)\n");
	smp_stop_others();
	arch_exit(false);
}
