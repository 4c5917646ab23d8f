/*
 * Kernel console output. printk formats into the console (16550 serial, and port
 * 0xE9 when enabled). A message may start with a level prefix; messages above the
 * console level (cmdline loglevel=N, default 6) are dropped.
 * Safe from any context, including exception handlers with interrupts off: output is
 * serialised by an irqsave spinlock, which panic breaks.
 */
#ifndef KEEL_PRINTK_H
#define KEEL_PRINTK_H

#include <keel/compiler.h>
#include <stdarg.h>

#define KERN_EMERG "\0010"
#define KERN_ERR "\0013"
#define KERN_WARN "\0014"
#define KERN_INFO "\0016"
#define KERN_DEBUG "\0017"

__printf(1, 2) void printk(const char *fmt, ...);
void vprintk(const char *fmt, va_list ap);

/* Formatting: %d %i %u %x %X %p %s %c %%, flags '-' '0', width, precision for %s,
 * length l, ll, z. Returns the length the full output would have. */
__printf(3, 4) int snprintf(char *buf, size_t size, const char *fmt, ...);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* Console level (cmdline loglevel=N) and panic's escape hatch. */
void printk_set_level(int level);
void printk_break_lock(void);

#endif
