/* Console sinks implemented by the arch (arch/x86_64/serial.c). */
#ifndef KEEL_CONSOLE_H
#define KEEL_CONSOLE_H

#include <keel/types.h>

void console_init(void);
void console_set_e9(bool on);
void console_write(const char *s, size_t n);
/* Returns once all written bytes have left the device. */
void console_flush(void);

/*
 * The debug port: a second serial line (COM2) carrying a debugger's byte stream (the
 * gdb stub, vmm/gdb/), apart from the console. Polled, no interrupts, no translation.
 */
/* Programs the port; false if there is none. */
bool debug_port_init(void);
/* A received byte, or -1 when none is waiting. */
int debug_port_getc(void);
void debug_port_write(const char *s, size_t n);

#endif
