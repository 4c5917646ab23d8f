/* Builds a guest's device bus (platform.h) from the device files' attach functions. */
#include <keel/errno.h>

#include "exit_port.h"
#include "fw_cfg.h"
#include "ioapic.h"
#include "pci.h"
#include "pic.h"
#include "pit.h"
#include "platform.h"
#include "port80.h"
#include "rtc.h"
#include "uart.h"
#include "vlapic.h"

/* Each attach registers its ranges on bus (g for devices that read its size). */
static int attach_all(struct guest *g, struct vdev_bus *bus)
{
	int err = uart_attach(bus);
	if (!err)
		err = exit_port_attach(bus);
	if (!err)
		err = fw_cfg_attach(g, bus);
	if (!err)
		err = vpic_attach(g, bus);
	if (!err)
		err = vpit_attach(g, bus);
	if (!err)
		err = vrtc_attach(g, bus);
	if (!err)
		err = vpci_attach(bus);
	if (!err)
		err = port80_attach(bus);
	if (!err)
		err = ioapic_attach(bus);
	if (!err)
		err = vlapic_attach(bus, g);
	return err;
}

int vdev_platform_keel(struct guest *g)
{
	struct vdev_bus *bus = vdev_bus_create();
	if (!bus)
		return -ENOMEM;
	int err = attach_all(g, bus);
	if (err) {
		g->pic = NULL;
		g->pit = NULL;
		vdev_bus_destroy(bus);
		return err;
	}
	g->devices = bus;
	return 0;
}
