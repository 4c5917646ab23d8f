/* The POST diagnostic port 0x80 (port80.c). */
#ifndef VMM_DEV_PORT80_H
#define VMM_DEV_PORT80_H

#include "dev.h"

/* Registers port 0x80. 0 or vdev_register's error. */
int port80_attach(struct vdev_bus *bus) __must_check;

#endif
