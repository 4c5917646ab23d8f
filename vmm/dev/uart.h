/* The guest UART (uart.c): registers its 8 ports on bus. 0, -ENOMEM or vdev_register's. */
#ifndef VMM_DEV_UART_H
#define VMM_DEV_UART_H

#include "dev.h"

int uart_attach(struct vdev_bus *bus) __must_check;

#endif
