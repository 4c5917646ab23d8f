/*
 * A 16550A UART at KEEL_GUEST_UART (8 ports), transmit to the guest's console
 * (console.h). Registers as the data sheet gives them (offset: DLAB=0 / DLAB=1):
 *   0 THR (write) / RBR (read)   | DLL     4 MCR (bits 0-4; bit 4 loopback)
 *   1 IER (bits 0-3)              | DLM     5 LSR: THRE and TEMT always (transmit is
 *   2 IIR (read) / FCR (write)              instant), DR while a looped-back byte waits
 *   3 LCR (bit 7 DLAB)                      6 MSR: CTS, DSR, DCD; in loopback, MCR's
 *                                             RTS, DTR, OUT1, OUT2 as CTS, DSR, RI, DCD
 *                                           7 SCR (scratch)
 * The divisor latch bytes are kept (and read back), never printed. IIR reports a THR
 * empty interrupt (0x02) while IER.ETBEI is set and no IIR read took it since the last
 * THR or IER write, else none (0x01); bits 7:6 say whether FCR enabled the FIFOs. No
 * interrupt line is raised and there is no receive side but loopback: without a waiting
 * byte, RBR reads 0. A 2- or 4-byte access is one access per byte, as on the ISA bus.
 */
#include <keel/heap.h>
#include <uapi/keel_hypercall.h>

#include "console.h"
#include "dev.h"
#include "uart.h"

enum { UART_DATA, UART_IER, UART_IIR, UART_LCR, UART_MCR, UART_LSR, UART_MSR, UART_SCR };

#define UART_LCR_DLAB 0x80
#define UART_LSR_DR 0x01
#define UART_LSR_THRE_TEMT 0x60
#define UART_IER_ETBEI 0x02
#define UART_IIR_NONE 0x01
#define UART_IIR_THRE 0x02
#define UART_IIR_FIFO 0xC0
#define UART_FCR_ENABLE 0x01
#define UART_MCR_LOOP 0x10
#define UART_MSR_IDLE 0xB0 /* DCD, DSR, CTS: a terminal is there */

/* [a] relaxed loads and stores: the guest's vCPUs may program the UART from several
 * CPUs at once; how their writes interleave is the guest's race, as on hardware. */
struct uart {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fifo;
	uint8_t thre;	  /* a THR empty interrupt is pending (IIR) */
	uint8_t rx, rx_n; /* a looped-back byte, and whether one waits */
};

static uint8_t get(const uint8_t *reg)
{
	return __atomic_load_n(reg, __ATOMIC_RELAXED);
}

static void set(uint8_t *reg, uint64_t val)
{
	__atomic_store_n(reg, (uint8_t)val, __ATOMIC_RELAXED);
}

/* MSR: the modem lines; in loopback they are MCR's outputs (16550 data sheet). */
static uint8_t uart_msr(const struct uart *u)
{
	uint8_t mcr = get(&u->mcr);
	if (!(mcr & UART_MCR_LOOP))
		return UART_MSR_IDLE;
	return (uint8_t)((mcr & 0x02) << 3 | (mcr & 0x01) << 5 | (mcr & 0x04) << 4 |
			 (mcr & 0x08) << 4);
}

static uint8_t uart_read_reg(struct uart *u, uint64_t off)
{
	bool dlab = get(&u->lcr) & UART_LCR_DLAB;
	uint8_t fifo = get(&u->fifo) ? UART_IIR_FIFO : 0;
	switch (off) {
	case UART_DATA:
		if (dlab)
			return get(&u->dll);
		return __atomic_exchange_n(&u->rx_n, 0, __ATOMIC_RELAXED) ? get(&u->rx) : 0;
	case UART_IER:
		return dlab ? get(&u->dlm) : get(&u->ier);
	case UART_IIR:
		if ((get(&u->ier) & UART_IER_ETBEI) &&
		    __atomic_exchange_n(&u->thre, 0, __ATOMIC_RELAXED))
			return fifo | UART_IIR_THRE;
		return fifo | UART_IIR_NONE;
	case UART_LCR:
		return get(&u->lcr);
	case UART_MCR:
		return get(&u->mcr);
	case UART_LSR:
		return UART_LSR_THRE_TEMT | (get(&u->rx_n) ? UART_LSR_DR : 0);
	case UART_MSR:
		return uart_msr(u);
	default:
		return get(&u->scr);
	}
}

/* A THR write: to the console, or back to RBR in loopback. */
static void uart_transmit(struct vcpu *v, struct uart *u, uint8_t c)
{
	set(&u->thre, 1);
	if (get(&u->mcr) & UART_MCR_LOOP) {
		set(&u->rx, c);
		set(&u->rx_n, 1);
		return;
	}
	guest_console_put(v->guest, (char)c);
}

static void uart_write_reg(struct vcpu *v, struct uart *u, uint64_t off, uint8_t val)
{
	bool dlab = get(&u->lcr) & UART_LCR_DLAB;
	switch (off) {
	case UART_DATA:
		if (dlab)
			set(&u->dll, val);
		else
			uart_transmit(v, u, val);
		break;
	case UART_IER:
		if (dlab) {
			set(&u->dlm, val);
		} else {
			set(&u->ier, val & 0x0F);
			set(&u->thre, 1); /* THR is empty: enabling ETBEI raises it */
		}
		break;
	case UART_IIR: /* FCR */
		set(&u->fifo, val & UART_FCR_ENABLE);
		break;
	case UART_LCR:
		set(&u->lcr, val);
		break;
	case UART_MCR:
		set(&u->mcr, val & 0x1F);
		break;
	case UART_SCR:
		set(&u->scr, val);
		break;
	default: /* LSR, MSR: read-only here (factory test writes ignored) */
		break;
	}
}

static enum exit_action uart_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				  uint64_t *val)
{
	uint64_t out = 0;
	for (unsigned i = 0; i < size; i++)
		out |= (uint64_t)(off + i < 8 ? uart_read_reg(state, off + i) : 0xFF) << (8 * i);
	*val = out;
	return EXIT_RESUME;
}

static enum exit_action uart_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				   uint64_t val)
{
	for (unsigned i = 0; i < size && off + i < 8; i++)
		uart_write_reg(v, state, off + i, (uint8_t)(val >> (8 * i)));
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
