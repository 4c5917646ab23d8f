/* Builds a guest's device bus (platform.h) from the device files' attach functions. */
#include <keel/errno.h>

#include "exit_port.h"
#include "platform.h"
#include "uart.h"
#include "vlapic.h"

int vdev_platform_keel(struct guest *g)
{
	struct vdev_bus *bus = vdev_bus_create();
	if (!bus)
		return -ENOMEM;
	int err = uart_attach(bus);
	if (!err)
		err = exit_port_attach(bus);
	if (!err)
		err = vlapic_attach(bus, g);
	if (err) {
		vdev_bus_destroy(bus);
		return err;
	}
	g->devices = bus;
	return 0;
}
