/*
 * The Multiboot test kernels' console and end (mb.h): printf's lines go to COM1 by
 * polling (works on QEMU's 16550 and Keel's), the end is isa-debug-exit at 0xF4.
 */
#include "mb.h"

void guest_console_write(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		uart_putc(buf[i]);
}

void mb_exit(int failed)
{
	uint8_t v = failed ? 1 : 0;
	printf("# mb-exit %u\n", v);
	keel_port_exit(v);
}
