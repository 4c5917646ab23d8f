/* The 8254 programmable interval timer and port 0x61 (pit.c). */
#ifndef VMM_DEV_PIT_H
#define VMM_DEV_PIT_H

#include "dev.h"

#define PIT_HZ 1193182u /* the PC's 8254 input clock */

/* Registers ports 0x40-0x43 and 0x61 on g's bus and sets g->pit. 0, -ENOMEM or
 * vdev_register's error. */
int vpit_attach(struct guest *g, struct vdev_bus *bus) __must_check;

/*
 * Before entering a vCPU of g: if counter 0 reached a terminal count since the last
 * call (each period in modes 2 and 3, once in the one-shot modes), raises IRQ 0 on the
 * PIC (several periods between two calls are one edge, as the 8259's IRR holds one).
 */
void vpit_poll(struct guest *g);

/* The TSC at which counter 0 next raises IRQ 0, or 0 if it will not (for HLT). */
uint64_t vpit_next_irq(struct guest *g);

/*
 * The count and OUT of a channel in mode (0-5; 6, 7 alias 2, 3) with reload value
 * reload (0 meaning 65536), ticks input-clock periods after counting began. Pure.
 */
uint16_t vpit_count(unsigned mode, uint32_t reload, uint64_t ticks, bool *out);

#endif
