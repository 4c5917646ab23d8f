/*
 * The 8259A PIC pair (pic.c): master at 0x20/0x21, slave at 0xA0/0xA1 cascaded on the
 * master's IRQ 2, and the ELCR at 0x4D0/0x4D1. Devices raise IRQ lines here; the
 * vCPU 0 injection path (exit_irq.c) takes the highest-priority unmasked one.
 */
#ifndef VMM_DEV_PIC_H
#define VMM_DEV_PIC_H

#include "dev.h"

/* Registers the PIC ports on bus and sets g->pic. 0, -ENOMEM or vdev_register's error. */
int vpic_attach(struct guest *g, struct vdev_bus *bus) __must_check;

/* An edge on IRQ line irq (0-15): its request bit is set (masked lines keep it until
 * unmasked, as the 8259A's IRR does). Any CPU, any time; no-op without a PIC. */
void vpic_raise(struct guest *g, unsigned irq);

/*
 * Before entering v: if v is vCPU 0, has no interrupt waiting and the PIC has an
 * unmasked request not blocked by one in service, acknowledges it (IRR to ISR, the
 * 8259A's INTA) and makes its vector v's pending interrupt.
 */
void vpic_poll(struct vcpu *v);

#endif
