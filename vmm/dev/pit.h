/* The 8254 programmable interval timer and port 0x61 (pit.c). */
#ifndef VMM_DEV_PIT_H
#define VMM_DEV_PIT_H

#include "dev.h"

#define PIT_HZ 1193182u /* the PC's 8254 input clock */

/* Registers ports 0x40-0x43 and 0x61 on bus. 0, -ENOMEM or vdev_register's error. */
int vpit_attach(struct vdev_bus *bus) __must_check;

/*
 * The count and OUT of a channel in mode (0-5; 6, 7 alias 2, 3) with reload value
 * reload (0 meaning 65536), ticks input-clock periods after counting began. Pure.
 */
uint16_t vpit_count(unsigned mode, uint32_t reload, uint64_t ticks, bool *out);

#endif
