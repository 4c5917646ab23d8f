/* Test watchdog (kernel/watchdog.c). watchdog_tick runs in every CPU's timer interrupt. */
#ifndef KEEL_WATCHDOG_H
#define KEEL_WATCHDOG_H

/* Starts the countdown (cmdline watchdog=SECONDS) for the named piece of work. */
void watchdog_arm(const char *what);
void watchdog_disarm(void);
void watchdog_tick(void);

#endif
