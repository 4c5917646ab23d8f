/*
 * Kernel tests of the device model: the bus's range rules, the dispatcher's masking and
 * unclaimed accesses, and the UART and exit port through it. No VMX needed: devices
 * see a vCPU record only, never its VMCS.
 */
#include <keel/errno.h>
#include <keel/ktest.h>
#include <keel/string.h>
#include <uapi/keel_hypercall.h>

#include "console.h"
#include "dev.h"
#include "platform.h"

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

/* A write to the exit port ends the guest with the value, masked to the access size. */
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
	KT_ASSERT_EQ(status, 0x1234);
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
