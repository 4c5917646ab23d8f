/*
 * The I/O APIC (ioapic.c), as the 82093AA datasheet describes it and QEMU's `pc`
 * machine places it: one per guest at 0xFEC00000, 24 pins, registers reached through
 * IOREGSEL (offset 0x00) and IOWIN (0x10), with the EOI register (0x40) of version 0x20:
 * ID (0x00), version (0x01: 0x20, 23 = the highest redirection entry), arbitration ID
 * (0x02), and the redirection table
 * (0x10 + 2n low dword, 0x11 + 2n high dword: vector, delivery mode, destination mode,
 * polarity, trigger mode, mask, destination; all masked at reset).
 *
 * Devices raise a pin with ioapic_raise; the entry's vector goes to the vCPUs its
 * destination names (physical: the APIC ID, which is the vCPU index, 0xFF all; logical:
 * a bit per vCPU, the flat model). Fixed and lowest-priority delivery only (the lowest
 * is the first vCPU named); NMI, SMI, INIT and ExtINT entries deliver nothing.
 *
 * Widths: IOREGSEL and IOWIN are 32-bit registers; an access of 1, 2 or 4 bytes inside
 * one of their dwords reads or writes those bytes (a narrow IOWIN write merges into the
 * selected register); an 8-byte access or one crossing a dword ends the guest ("bad
 * width"). Other offsets read 0 and ignore writes. Differences from QEMU's model, which
 * is otherwise followed (version 0x20, registers repeating every 256 bytes, reserved
 * bits of an entry kept as written): QEMU reads
 * narrow IOWIN accesses as 0 and ignores narrow writes, and ignores bad widths.
 */
#ifndef VMM_DEV_IOAPIC_H
#define VMM_DEV_IOAPIC_H

#include "dev.h"
#include "ioapic_model.h"

#define IOAPIC_BASE 0xFEC00000ull
#define IOAPIC_SIZE 0x1000ull

/* Registers the I/O APIC page on bus. 0, -ENOMEM or vdev_register's error. */
int ioapic_attach(struct vdev_bus *bus) __must_check;

/*
 * An edge on pin of g's I/O APIC (any CPU, any context that may take a spinlock):
 * delivers the pin's entry unless it is masked. Returns the number of vCPUs it reached,
 * -ENODEV if g has no I/O APIC, -EINVAL for a pin above 23. Level-triggered entries are
 * delivered the same way (no remote IRR: the LAPIC's EOI does not reach the I/O APIC).
 */
int ioapic_raise(struct guest *g, unsigned pin);

#endif
