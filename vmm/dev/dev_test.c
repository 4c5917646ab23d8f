/*
 * Kernel tests of the device model: the bus's range rules, the dispatcher's masking and
 * unclaimed accesses, and the UART and exit port through it. No VMX needed: devices
 * see a vCPU record only, never its VMCS.
 */
#include <keel/errno.h>
#include <keel/ktest.h>
#include <keel/string.h>
#include <keel/time.h>
#include <uapi/keel_hypercall.h>

#include "console.h"
#include "dev.h"
#include "pic.h"
#include "pit.h"
#include "platform.h"
#include "rtc.h"

static const struct vdev_ops nop_ops = { "nop", NULL, NULL };

/* Ranges may not be empty, wrap, leave the port space or overlap in one space; the
 * same addresses in the other space are another range. */
KTEST(vdev_register_refuses_bad_and_overlapping_ranges)
{
	struct vdev_bus *bus = vdev_bus_create();
	KT_ASSERT(bus != NULL);
	int ok = vdev_register(bus, VDEV_PIO, 0x3F8, 8, &nop_ops, NULL);
	int overlap = vdev_register(bus, VDEV_PIO, 0x3FF, 2, &nop_ops, NULL);
	int empty = vdev_register(bus, VDEV_PIO, 0x100, 0, &nop_ops, NULL);
	int beyond = vdev_register(bus, VDEV_PIO, 0xFFFF, 2, &nop_ops, NULL);
	int wrap = vdev_register(bus, VDEV_MMIO, ~0ull - 1, 4, &nop_ops, NULL);
	int other_space = vdev_register(bus, VDEV_MMIO, 0x3F8, 8, &nop_ops, NULL);
	const struct vdev_range *r = vdev_find(bus, VDEV_PIO, 0x3FF);
	bool found = r && r->base == 0x3F8 && r->space == VDEV_PIO;
	const struct vdev_range *none = vdev_find(bus, VDEV_PIO, 0x400);
	unsigned count = bus->count;
	vdev_bus_destroy(bus);
	KT_ASSERT_EQ(ok, 0);
	KT_ASSERT_EQ(overlap, (uint64_t)-EEXIST);
	KT_ASSERT_EQ(empty, (uint64_t)-EINVAL);
	KT_ASSERT_EQ(beyond, (uint64_t)-EINVAL);
	KT_ASSERT_EQ(wrap, (uint64_t)-EINVAL);
	KT_ASSERT_EQ(other_space, 0);
	KT_ASSERT(found);
	KT_ASSERT(none == NULL);
	KT_ASSERT_EQ(count, 2);
}

KTEST(vdev_register_stops_at_the_range_limit)
{
	struct vdev_bus *bus = vdev_bus_create();
	KT_ASSERT(bus != NULL);
	int err = 0;
	for (unsigned i = 0; i < VDEV_RANGE_MAX && !err; i++)
		err = vdev_register(bus, VDEV_PIO, 0x10 * i, 1, &nop_ops, NULL);
	int full = vdev_register(bus, VDEV_PIO, 0x1000, 1, &nop_ops, NULL);
	vdev_bus_destroy(bus);
	KT_ASSERT_EQ(err, 0);
	KT_ASSERT_EQ(full, (uint64_t)-ENOSPC);
}

/* A guest record with Keel's devices, not built or run: enough for device accesses. */
static struct guest *test_guest(void)
{
	static struct guest g;
	struct guest_desc d = { .name = "devtest", .mem = MiB(2), .vcpus = 1 };
	memset(&g, 0, sizeof(g));
	guest_init(&g, &d);
	return vdev_platform_keel(&g) ? NULL : &g;
}

static uint64_t pio_in(struct vcpu *v, uint16_t port, unsigned size, bool *claimed)
{
	uint64_t val = 0x1234;
	enum exit_action a;
	*claimed = vdev_access(v, VDEV_PIO, port, size, false, &val, &a);
	return val;
}

static enum exit_action pio_out(struct vcpu *v, uint16_t port, unsigned size, uint64_t val)
{
	enum exit_action a = EXIT_RESUME;
	if (!vdev_access(v, VDEV_PIO, port, size, true, &val, &a))
		return (enum exit_action) - 1;
	return a;
}

/* The UART's transmit register feeds the guest console; with LCR.DLAB set the same
 * ports are the divisor latch (the divisor never shows as text); LSR says "empty". */
KTEST(vdev_uart_prints_data_bytes_but_not_the_divisor)
{
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	struct vcpu *v = &g->vcpus[0];
	bool claimed_lsr, claimed_none, claimed_dll;
	uint64_t lsr = pio_in(v, KEEL_GUEST_UART + 5, 1, &claimed_lsr);
	uint64_t none = pio_in(v, 0x2F8, 2, &claimed_none);
	(void)pio_out(v, KEEL_GUEST_UART + 3, 1, 0x80); /* DLAB on */
	(void)pio_out(v, KEEL_GUEST_UART, 1, 0x01);	/* divisor 115200 baud */
	(void)pio_out(v, KEEL_GUEST_UART + 1, 1, 0x00);
	uint64_t dll = pio_in(v, KEEL_GUEST_UART, 1, &claimed_dll);
	(void)pio_out(v, KEEL_GUEST_UART + 3, 1, 0x03); /* 8N1, DLAB off */
	(void)pio_out(v, KEEL_GUEST_UART, 1, 'o');
	(void)pio_out(v, KEEL_GUEST_UART, 1, 'k');
	unsigned len = g->console_len;
	bool text = len == 2 && !memcmp(g->console_line, "ok", 2);
	(void)pio_out(v, KEEL_GUEST_UART, 1, '\n'); /* prints "[devtest] ok" */
	unsigned after_newline = g->console_len;
	vdev_bus_destroy(g->devices);
	KT_ASSERT(claimed_lsr && claimed_dll && !claimed_none);
	KT_ASSERT_EQ(none, 0x1234); /* unclaimed: the caller's value stays */
	KT_ASSERT_EQ(lsr, 0x60);
	KT_ASSERT_EQ(dll, 0x01);
	KT_ASSERT(text);
	KT_ASSERT_EQ(after_newline, 0);
}

/* A write of v to the exit port ends the guest with (v << 1) | 1 (QEMU's isa-debug-exit),
 * v masked to the access size. */
KTEST(vdev_exit_port_ends_the_guest_with_the_written_status)
{
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	struct vcpu *v = &g->vcpus[0];
	enum exit_action a = pio_out(v, KEEL_GUEST_EXIT_PORT, 2, 0xABCD1234);
	bool ended = guest_ended(g);
	enum guest_state st = g->state;
	int64_t status = g->status;
	vdev_bus_destroy(g->devices);
	KT_ASSERT_EQ(a, EXIT_STOP);
	KT_ASSERT(ended && st == GUEST_EXITED);
	KT_ASSERT_EQ(status, (0x1234 << 1) | 1);
}

/* The console counts the TAP results a guest prints: "not ok" fails it, "# TODO" ones
 * do not, and text that merely contains "ok" is no result. */
KTEST(guest_console_counts_tap_results)
{
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	static const char out[] = "ok 1 - a\nnot ok 2 - b\nnot ok 3 - c # TODO later\nokay\n"
				  "# not ok in a comment\nok\n";
	for (const char *p = out; *p; p++)
		guest_console_put(g, *p);
	unsigned ok = g->tap_ok, not_ok = g->tap_not_ok;
	vdev_bus_destroy(g->devices);
	KT_ASSERT_EQ(ok, 2);
	KT_ASSERT_EQ(not_ok, 1);
}

/* The UART as a 16550: scratch, IER and divisor read back (a 16-bit write fills both
 * latch bytes), IIR reports THR empty once while ETBEI is on, loopback returns a byte
 * through RBR (LSR.DR) and shows MCR's lines in MSR, none of it printed. */
KTEST(vdev_uart_registers_behave_as_a_16550)
{
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	struct vcpu *v = &g->vcpus[0];
	const uint16_t u = KEEL_GUEST_UART;
	bool c;
	(void)pio_out(v, u + 7, 1, 0x5A);
	uint64_t scr = pio_in(v, u + 7, 1, &c);
	(void)pio_out(v, u + 3, 1, 0x83);
	(void)pio_out(v, u, 2, 0x0201); /* DLL 1, DLM 2 in one access */
	uint64_t div = pio_in(v, u, 2, &c);
	(void)pio_out(v, u + 3, 1, 0x03);
	(void)pio_out(v, u + 2, 1, 0x07); /* FIFOs on */
	(void)pio_out(v, u + 1, 1, 0x02); /* ETBEI */
	uint64_t ier = pio_in(v, u + 1, 1, &c);
	uint64_t iir1 = pio_in(v, u + 2, 1, &c), iir2 = pio_in(v, u + 2, 1, &c);
	(void)pio_out(v, u + 4, 1, 0x1B); /* loopback, OUT2, RTS, DTR */
	uint64_t msr = pio_in(v, u + 6, 1, &c);
	(void)pio_out(v, u, 1, 'x');
	uint64_t lsr_dr = pio_in(v, u + 5, 1, &c), rbr = pio_in(v, u, 1, &c);
	uint64_t lsr_after = pio_in(v, u + 5, 1, &c);
	unsigned printed = g->console_len;
	vdev_bus_destroy(g->devices);
	KT_ASSERT_EQ(scr, 0x5A);
	KT_ASSERT_EQ(div, 0x0201);
	KT_ASSERT_EQ(ier, 0x02);
	KT_ASSERT_EQ(iir1, 0xC2);
	KT_ASSERT_EQ(iir2, 0xC1);
	KT_ASSERT_EQ(msr, 0xB0); /* CTS = RTS, DSR = DTR, DCD = OUT2 */
	KT_ASSERT_EQ(lsr_dr, 0x61);
	KT_ASSERT_EQ(rbr, 'x');
	KT_ASSERT_EQ(lsr_after, 0x60);
	KT_ASSERT_EQ(printed, 0);
}

/* Reset and power-off ports end the guest; other values written there do not. */
KTEST(vdev_reset_and_power_off_end_the_guest)
{
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	struct vcpu *v = &g->vcpus[0];
	bool c;
	uint64_t kbc = pio_in(v, 0x64, 1, &c);
	enum exit_action other = pio_out(v, 0x64, 1, 0xD1);
	enum exit_action cf9_soft = pio_out(v, 0xCF9, 1, 0x02);
	bool alive = !guest_ended(g);
	enum exit_action reset = pio_out(v, 0xCF9, 1, 0x06);
	bool killed = g->state == GUEST_KILLED;
	vdev_bus_destroy(g->devices);
	g = test_guest();
	KT_ASSERT(g != NULL);
	enum exit_action off = pio_out(&g->vcpus[0], 0x604, 2, 0x2000);
	bool exited0 = g->state == GUEST_EXITED && g->status == 0;
	vdev_bus_destroy(g->devices);
	KT_ASSERT(!(kbc & 3)); /* 8042 buffers empty */
	KT_ASSERT(other == EXIT_RESUME && cf9_soft == EXIT_RESUME && alive);
	KT_ASSERT(reset == EXIT_STOP && killed);
	KT_ASSERT(off == EXIT_STOP && exited0);
}

/* fw_cfg: the signature, RAM size and CPU count, byte by byte after a 16-bit select;
 * an unknown item reads zeros. */
KTEST(vdev_fw_cfg_answers_signature_ram_and_cpus)
{
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	struct vcpu *v = &g->vcpus[0];
	bool c;
	char sig[5] = { 0 };
	(void)pio_out(v, 0x510, 2, 0x0000);
	for (unsigned i = 0; i < 4; i++)
		sig[i] = (char)pio_in(v, 0x511, 1, &c);
	uint64_t ram = 0, cpus = 0, id = 0, unknown = 0;
	(void)pio_out(v, 0x510, 2, 0x0003);
	for (unsigned i = 0; i < 8; i++)
		ram |= pio_in(v, 0x511, 1, &c) << (8 * i);
	(void)pio_out(v, 0x510, 2, 0x0005);
	cpus = pio_in(v, 0x511, 2, &c); /* a 16-bit read: two bytes */
	(void)pio_out(v, 0x510, 2, 0x0001);
	id = pio_in(v, 0x511, 4, &c);
	(void)pio_out(v, 0x510, 2, 0x1234);
	unknown = pio_in(v, 0x511, 4, &c);
	vdev_bus_destroy(g->devices);
	KT_ASSERT(!strcmp(sig, "QEMU"));
	KT_ASSERT_EQ(ram, MiB(2));
	KT_ASSERT_EQ(cpus, 1);
	KT_ASSERT_EQ(id, 1);
	KT_ASSERT_EQ(unknown, 0);
}

/* The 8259 pair: the ICW sequence sets the vector bases, masks read back, a masked
 * request waits, an unmasked one is taken by vCPU 0 (IRR to ISR), a request of
 * lower priority waits for EOI, the slave's arrive through the master's IRQ 2. */
KTEST(vdev_pic_masks_priorities_and_cascade)
{
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	struct vcpu *v = &g->vcpus[0];
	bool c;
	static const uint8_t icw[2][4] = { { 0x11, 0x20, 0x04, 0x01 }, { 0x11, 0x28, 0x02, 0x01 } };
	for (unsigned i = 0; i < 2; i++) {
		(void)pio_out(v, i ? 0xA0 : 0x20, 1, icw[i][0]);
		for (unsigned k = 1; k < 4; k++)
			(void)pio_out(v, i ? 0xA1 : 0x21, 1, icw[i][k]);
	}
	(void)pio_out(v, 0x21, 1, 0xFA); /* IRQ 0 and 2 (cascade) open */
	(void)pio_out(v, 0xA1, 1, 0xF7); /* slave IRQ 3 = IRQ 11 open */
	uint64_t mask_m = pio_in(v, 0x21, 1, &c), mask_s = pio_in(v, 0xA1, 1, &c);
	vpic_raise(g, 1); /* masked */
	v->irq_pending = -1;
	vpic_poll(v);
	int masked = v->irq_pending;
	vpic_raise(g, 11);
	vpic_raise(g, 0);
	vpic_poll(v);
	int first = v->irq_pending; /* IRQ 0: highest priority */
	v->irq_pending = -1;
	vpic_poll(v);
	int blocked = v->irq_pending;	 /* IRQ 11 waits for IRQ 0's EOI */
	(void)pio_out(v, 0x20, 1, 0x0B); /* OCW3: read ISR */
	uint64_t isr = pio_in(v, 0x20, 1, &c);
	(void)pio_out(v, 0x20, 1, 0x20); /* EOI */
	vpic_poll(v);
	int second = v->irq_pending;
	v->irq_pending = -1;
	vdev_bus_destroy(g->devices);
	KT_ASSERT_EQ(mask_m, 0xFA);
	KT_ASSERT_EQ(mask_s, 0xF7);
	KT_ASSERT_EQ(masked, (uint64_t)-1);
	KT_ASSERT_EQ(first, 0x20);
	KT_ASSERT_EQ(blocked, (uint64_t)-1);
	KT_ASSERT_EQ(isr, 0x01);
	KT_ASSERT_EQ(second, 0x28 + 3);
}

/* The PIT's counts as the 8254 data sheet gives them, from a tick count (pure). */
KTEST(vpit_count_follows_the_modes)
{
	bool out;
	KT_ASSERT_EQ(vpit_count(0, 1000, 0, &out), 1000);
	KT_ASSERT(!out);
	KT_ASSERT_EQ(vpit_count(0, 1000, 999, &out), 1);
	KT_ASSERT(!out);
	KT_ASSERT_EQ(vpit_count(0, 1000, 1000, &out), 0);
	KT_ASSERT(out);					       /* terminal count: OUT high */
	KT_ASSERT_EQ(vpit_count(0, 1000, 1001, &out), 0xFFFF); /* wraps on */
	KT_ASSERT_EQ(vpit_count(2, 100, 250, &out), 50);
	KT_ASSERT(out);
	KT_ASSERT_EQ(vpit_count(2, 100, 99, &out), 1);
	KT_ASSERT(!out); /* the one low period */
	KT_ASSERT_EQ(vpit_count(3, 100, 10, &out), 80);
	KT_ASSERT(out);
	KT_ASSERT_EQ(vpit_count(3, 100, 60, &out), 80);
	KT_ASSERT(!out);
	KT_ASSERT_EQ(vpit_count(0, 0, 1, &out), 0xFFFF); /* 0 means 65536 */
}

/* Counter 2 in mode 0, gated by port 0x61, counts down as time passes; latching
 * freezes the value read; with the gate low it does not move. */
KTEST(vdev_pit_counter_moves_with_time)
{
	if (!time_cycles_hz())
		KT_SKIP("no calibrated clock");
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	struct vcpu *v = &g->vcpus[0];
	bool c;
	(void)pio_out(v, 0x61, 1, 0x01); /* gate 2 high, speaker off */
	(void)pio_out(v, 0x43, 1, 0xB0); /* counter 2, LSB then MSB, mode 0 */
	(void)pio_out(v, 0x42, 1, 0xFF);
	(void)pio_out(v, 0x42, 1, 0xFF);
	(void)pio_out(v, 0x43, 1, 0x80); /* latch counter 2 */
	uint64_t a = pio_in(v, 0x42, 1, &c);
	a |= pio_in(v, 0x42, 1, &c) << 8;
	udelay(2000); /* about 2386 input clocks */
	(void)pio_out(v, 0x43, 1, 0x80);
	uint64_t b = pio_in(v, 0x42, 1, &c);
	b |= pio_in(v, 0x42, 1, &c) << 8;
	(void)pio_out(v, 0x61, 1, 0x00); /* gate low: frozen */
	(void)pio_out(v, 0x43, 1, 0x80);
	uint64_t f1 = pio_in(v, 0x42, 1, &c);
	f1 |= pio_in(v, 0x42, 1, &c) << 8;
	udelay(1000);
	(void)pio_out(v, 0x43, 1, 0x80);
	uint64_t f2 = pio_in(v, 0x42, 1, &c);
	f2 |= pio_in(v, 0x42, 1, &c) << 8;
	uint64_t p61 = pio_in(v, 0x61, 1, &c);
	vdev_bus_destroy(g->devices);
	KT_ASSERT(a > b && a - b >= 1000); /* at least 2 ms passed: 2386 clocks */
	KT_ASSERT_EQ(f1, f2);
	KT_ASSERT(!(p61 & 0x20)); /* OUT2 low: mode 0, not at terminal count */
}

/* CMOS: status registers, BCD time fields in range, the firmware's memory bytes, RAM
 * read back, any index answering. */
KTEST(vdev_cmos_rtc_registers)
{
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	struct vcpu *v = &g->vcpus[0];
	bool c;
	uint64_t r[0x80];
	for (unsigned i = 0; i < 0x80; i++) {
		(void)pio_out(v, 0x70, 1, 0x80 | i); /* NMI mask bit set */
		r[i] = pio_in(v, 0x71, 1, &c);
	}
	(void)pio_out(v, 0x70, 1, 0x40);
	(void)pio_out(v, 0x71, 1, 0x99);
	uint64_t ram = pio_in(v, 0x71, 1, &c);
	vdev_bus_destroy(g->devices);
	unsigned y, m, d;
	vrtc_civil(0, &y, &m, &d);
	KT_ASSERT(y == 1970 && m == 1 && d == 1);
	vrtc_civil(20454, &y, &m, &d);
	KT_ASSERT(y == 2026 && m == 1 && d == 1);
	vrtc_civil(11016, &y, &m, &d); /* a leap day */
	KT_ASSERT(y == 2000 && m == 2 && d == 29);
	KT_ASSERT_EQ(r[0x0A], 0x26);
	KT_ASSERT_EQ(r[0x0B], 0x02);
	KT_ASSERT_EQ(r[0x0D], 0x80);
	KT_ASSERT(r[0x00] < 0x60 && (r[0x00] & 0xF) < 10); /* BCD seconds */
	KT_ASSERT_EQ(r[0x09], 0x26);
	KT_ASSERT_EQ(r[0x32], 0x20);
	KT_ASSERT_EQ(r[0x15] | r[0x16] << 8, 640);
	KT_ASSERT_EQ(r[0x17] | r[0x18] << 8, 1024); /* 2 MiB guest: 1 MiB above 1 MiB */
	KT_ASSERT_EQ(ram, 0x99);
}

/* PCI: CONFIG_ADDRESS reads back (32-bit only), CONFIG_DATA is "no device"; an unknown
 * port reads all ones and is counted by number; port 0x80 is claimed. */
KTEST(vdev_pci_no_device_and_unclaimed_ports_counted)
{
	struct guest *g = test_guest();
	KT_ASSERT(g != NULL);
	struct vcpu *v = &g->vcpus[0];
	bool c, c80, cnone;
	(void)pio_out(v, 0xCF8, 4, 0x80000003);
	uint64_t addr = pio_in(v, 0xCF8, 4, &c);
	uint64_t data = pio_in(v, 0xCFC, 4, &c);
	(void)pio_in(v, 0x80, 1, &c80);
	(void)pio_in(v, 0x2F8, 1, &cnone);
	vdev_note_unclaimed(g->devices, 0x2F8);
	vdev_note_unclaimed(g->devices, 0x2F8);
	vdev_note_unclaimed(g->devices, 0x60);
	char buf[80];
	vdev_unclaimed_str(g->devices, buf, sizeof(buf));
	vdev_bus_destroy(g->devices);
	KT_ASSERT_EQ(addr, 0x80000000);
	KT_ASSERT_EQ(data, 0xFFFFFFFF);
	KT_ASSERT(c80 && !cnone);
	KT_ASSERT(!strcmp(buf, "0x2f8=2, 0x60=1"));
}
