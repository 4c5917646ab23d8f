/* QEMU's firmware configuration device, traditional interface (fw_cfg.c). */
#ifndef VMM_DEV_FW_CFG_H
#define VMM_DEV_FW_CFG_H

#include "dev.h"

#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511

/* Registers the selector and data ports on g's bus, with g's RAM size and vCPU count.
 * 0, -ENOMEM or vdev_register's error. */
int fw_cfg_attach(struct guest *g, struct vdev_bus *bus) __must_check;

#endif
