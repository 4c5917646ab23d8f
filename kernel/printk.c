/*
 * printk: formats a message and writes it to the console under one lock, so lines from
 * different CPUs do not interleave. Messages carry an optional level prefix (KERN_*);
 * those above console_level are dropped. panic calls printk_break_lock so a CPU that
 * died holding the lock cannot silence the panic message.
 */
#include <keel/console.h>
#include <keel/printk.h>
#include <keel/spinlock.h>

static spinlock_t console_lock = SPINLOCK_INIT;
static int console_level = 6;
static volatile bool lock_broken;

void printk_set_level(int level)
{
	console_level = level;
}

void printk_break_lock(void)
{
	lock_broken = true;
}

void vprintk(const char *fmt, va_list ap)
{
	int level = 6;
	if (fmt[0] == '\001' && fmt[1] >= '0' && fmt[1] <= '7') {
		level = fmt[1] - '0';
		fmt += 2;
	}
	if (level > console_level)
		return;
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	if (lock_broken) {
		console_write(buf, n);
		return;
	}
	unsigned long flags = spin_lock_irqsave(&console_lock);
	console_write(buf, n);
	spin_unlock_irqrestore(&console_lock, flags);
}

void printk(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
}
