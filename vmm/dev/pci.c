/*
 * PCI configuration mechanism #1 (PCI Local Bus Specification 3.0, 3.2.2.3.2): a
 * 32-bit write to CONFIG_ADDRESS (0xCF8) selects bus/device/function/register and
 * reads back; CONFIG_DATA (0xCFC-0xCFF) answers as a bus with no device: reads all
 * ones (vendor ID 0xFFFF), writes go nowhere. Byte and word accesses to 0xCF8 are not
 * configuration cycles (0xCF9 is the reset control register, exit_port.c).
 */
#include <keel/heap.h>

#include "pci.h"

struct vpci {
	uint32_t address; /* [a] relaxed */
};

static enum exit_action addr_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				  uint64_t *val)
{
	struct vpci *p = state;
	if (size == 4)
		*val = __atomic_load_n(&p->address, __ATOMIC_RELAXED);
	return EXIT_RESUME;
}

static enum exit_action addr_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				   uint64_t val)
{
	struct vpci *p = state;
	if (size == 4) /* bits 1:0 read back as 0 */
		__atomic_store_n(&p->address, (uint32_t)val & ~3u, __ATOMIC_RELAXED);
	return EXIT_RESUME;
}

static const struct vdev_ops addr_ops = { "PCI CONFIG_ADDRESS", addr_read, addr_write };
static const struct vdev_ops data_ops = { "PCI CONFIG_DATA", NULL, NULL };

int vpci_attach(struct vdev_bus *bus)
{
	struct vpci *p = kzalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	int err = vdev_register(bus, VDEV_PIO, 0xCF8, 1, &addr_ops, p);
	if (!err)
		err = vdev_register(bus, VDEV_PIO, 0xCFC, 4, &data_ops, NULL);
	return err;
}
