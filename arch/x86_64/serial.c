/*
 * 16550 UART on COM1 (0x3F8), the kernel console's main sink, and the Bochs/QEMU
 * port 0xE9 debug console when enabled (cmdline e9=1); a second 16550 on COM2 (0x2F8)
 * is the debug port (console.h), raw bytes both ways. Polled, no interrupts.
 */
#include <arch/x86.h>
#include <keel/console.h>

#define COM1 0x3F8
#define COM2 0x2F8
#define LSR_DR (1 << 0)	  /* a received byte is waiting */
#define LSR_THRE (1 << 5) /* transmit holding register empty */
#define LSR_TEMT (1 << 6) /* transmitter idle: every byte has left the wire */

static bool e9_enabled;
static bool serial_present;

static bool debug_present;

/* 115200 baud 8N1, FIFOs on and cleared, no interrupts; false if no UART answers. */
static bool uart_init(uint16_t port)
{
	outb(port + 1, 0x00); /* no interrupts */
	outb(port + 3, 0x80); /* DLAB */
	outb(port + 0, 0x01); /* 115200 baud */
	outb(port + 1, 0x00);
	outb(port + 3, 0x03); /* 8N1 */
	outb(port + 2, 0xC7); /* FIFO on, cleared */
	outb(port + 4, 0x03); /* DTR, RTS */
	return inb(port + 5) != 0xFF;
}

void console_init(void)
{
	serial_present = uart_init(COM1);
}

bool debug_port_init(void)
{
	debug_present = uart_init(COM2);
	return debug_present;
}

int debug_port_getc(void)
{
	if (!debug_present || !(inb(COM2 + 5) & LSR_DR))
		return -1;
	return inb(COM2);
}

void debug_port_write(const char *s, size_t n)
{
	for (size_t i = 0; debug_present && i < n; i++) {
		for (unsigned spin = 0; !(inb(COM2 + 5) & LSR_THRE) && spin < 1000000; spin++)
			cpu_pause();
		outb(COM2, (uint8_t)s[i]);
	}
}

void console_set_e9(bool on)
{
	e9_enabled = on;
}

static void serial_putc(char c)
{
	if (!serial_present)
		return;
	for (unsigned spin = 0; !(inb(COM1 + 5) & LSR_THRE) && spin < 1000000; spin++)
		cpu_pause();
	outb(COM1, (uint8_t)c);
}

void console_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			serial_putc('\r');
		serial_putc(s[i]);
		if (e9_enabled)
			outb(0xE9, (uint8_t)s[i]);
	}
}

/* Waits until the UART has sent every byte (Bochs models transmit time: exiting
 * earlier loses output). Bounded so a missing UART cannot hang the exit. */
void console_flush(void)
{
	if (!serial_present)
		return;
	for (unsigned spin = 0; !(inb(COM1 + 5) & LSR_TEMT) && spin < 10000000; spin++)
		cpu_pause();
}
