/* Polled output on the emulated 16550 (transmit only; Keel's LSR always reads 0x60). */
#include "keel_guest.h"

#define UART_LSR 5
#define UART_LSR_THRE 0x20

void uart_putc(char c)
{
	while (!(inb(KEEL_GUEST_UART + UART_LSR) & UART_LSR_THRE))
		cpu_pause();
	outb(KEEL_GUEST_UART, (uint8_t)c);
}

void uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}
