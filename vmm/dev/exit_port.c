/*
 * The exit port (KEEL_GUEST_EXIT_PORT, like QEMU's isa-debug-exit): a write ends the
 * guest with the written value (of the access size) as its exit status. Reads see no
 * device (all ones).
 */
#include <uapi/keel_hypercall.h>

#include "dev.h"
#include "exit_port.h"

static enum exit_action exit_port_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
					uint64_t val)
{
	return guest_exit(v->guest, (int64_t)val);
}

static const struct vdev_ops exit_port_ops = { "exit port", NULL, exit_port_write };

int exit_port_attach(struct vdev_bus *bus)
{
	return vdev_register(bus, VDEV_PIO, KEEL_GUEST_EXIT_PORT, 1, &exit_port_ops, NULL);
}
