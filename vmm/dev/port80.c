/*
 * Port 0x80, the POST code port firmware and kernels write to (often only as a short
 * I/O delay): claimed so it is not counted as an unknown port; writes are dropped and
 * reads see all ones, as with no POST card.
 */
#include "port80.h"

static const struct vdev_ops port80_ops = { "POST port 0x80", NULL, NULL };

int port80_attach(struct vdev_bus *bus)
{
	return vdev_register(bus, VDEV_PIO, 0x80, 1, &port80_ops, NULL);
}
