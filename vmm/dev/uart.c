/*
 * A 16550-style UART at KEEL_GUEST_UART (8 ports), transmit only: bytes written to the
 * transmit register go to the guest's console (console.h). The line status register
 * always says the transmitter is empty (bits 5 and 6), so polling guests never wait.
 * With LCR.DLAB (bit 7) set, offsets 0 and 1 are the divisor latch, not data: the
 * divisor a guest programs is kept (and reads back), never printed. Receive is not
 * emulated: the data register reads all ones, LCR reads what was written, the other
 * registers 0.
 * Register offsets: the 16550 data sheet (0 THR/RBR, 1 IER, 3 LCR, 5 LSR).
 */
#include <keel/heap.h>
#include <uapi/keel_hypercall.h>

#include "console.h"
#include "dev.h"
#include "uart.h"

#define UART_THR 0
#define UART_DLM 1
#define UART_LCR 3
#define UART_LSR 5
#define UART_LCR_DLAB 0x80
#define UART_LSR_THRE_TEMT 0x60

/* [a] relaxed loads and stores: the guest's vCPUs may program the UART from several
 * CPUs at once; how their writes interleave is the guest's race, as on hardware. */
struct uart {
	uint8_t lcr, dll, dlm; /* line control; divisor latch low and high */
};

static uint8_t get(const uint8_t *reg)
{
	return __atomic_load_n(reg, __ATOMIC_RELAXED);
}

static void set(uint8_t *reg, uint64_t val)
{
	__atomic_store_n(reg, (uint8_t)val, __ATOMIC_RELAXED);
}

static enum exit_action uart_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				  uint64_t *val)
{
	struct uart *u = state;
	bool dlab = get(&u->lcr) & UART_LCR_DLAB;
	if (off == UART_LSR)
		*val = UART_LSR_THRE_TEMT;
	else if (off == UART_LCR)
		*val = get(&u->lcr);
	else if (off == UART_THR && dlab)
		*val = get(&u->dll);
	else if (off == UART_DLM && dlab)
		*val = get(&u->dlm);
	else if (off != UART_THR)
		*val = 0; /* no receive side: RBR keeps the all-ones of no device */
	return EXIT_RESUME;
}

static enum exit_action uart_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				   uint64_t val)
{
	struct uart *u = state;
	bool dlab = get(&u->lcr) & UART_LCR_DLAB;
	if (off == UART_THR && dlab)
		set(&u->dll, val);
	else if (off == UART_DLM && dlab)
		set(&u->dlm, val);
	else if (off == UART_THR)
		guest_console_put(v->guest, (char)val);
	else if (off == UART_LCR)
		set(&u->lcr, val);
	return EXIT_RESUME;
}

static const struct vdev_ops uart_ops = { "uart", uart_read, uart_write };

int uart_attach(struct vdev_bus *bus)
{
	struct uart *u = kzalloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	return vdev_register(bus, VDEV_PIO, KEEL_GUEST_UART, 8, &uart_ops, u);
}
