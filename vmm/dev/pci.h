/* PCI configuration mechanism #1 with no device behind it (pci.c). */
#ifndef VMM_DEV_PCI_H
#define VMM_DEV_PCI_H

#include "dev.h"

/* Registers CONFIG_ADDRESS (0xCF8, 32-bit) and CONFIG_DATA (0xCFC-0xCFF). 0, -ENOMEM or
 * vdev_register's error. */
int vpci_attach(struct vdev_bus *bus) __must_check;

#endif
