/* Console sinks implemented by the arch (arch/x86_64/serial.c). */
#ifndef KEEL_CONSOLE_H
#define KEEL_CONSOLE_H

#include <keel/types.h>

void console_init(void);
void console_set_e9(bool on);
void console_write(const char *s, size_t n);
/* Returns once all written bytes have left the device. */
void console_flush(void);

#endif
