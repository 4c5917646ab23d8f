/* The ports that end a guest (exit_port.c): exit port, reset, power off. 0 or
 * vdev_register's error. */
#ifndef VMM_DEV_EXIT_PORT_H
#define VMM_DEV_EXIT_PORT_H

#include "dev.h"

int exit_port_attach(struct vdev_bus *bus) __must_check;

#endif
