/*
 * MMIO emulation (exit_mmio.c): an EPT violation at a guest-physical address a device
 * registered (dev/dev.h) is the guest's instruction touching that device; it is fetched
 * at CS:RIP, decoded (decode.h) and performed against the device bus.
 */
#ifndef VMM_EXIT_MMIO_H
#define VMM_EXIT_MMIO_H

#include "dev/dev.h"

/*
 * Emulates the instruction of v that accessed gpa inside r (a VDEV_MMIO range): the
 * device access with the instruction's width, the register, flags and memory it writes,
 * RIP past it (a REP string form may stop early and run again). Returns EXIT_RESUME
 * (also after injecting #UD/#GP/#PF where the CPU would raise one) or EXIT_STOP (the
 * guest ended: an instruction Keel does not emulate, an access leaving the device's
 * range, or the device ended it).
 */
enum exit_action exit_mmio(struct vcpu *v, const struct vdev_range *r, gpa_t gpa);

#endif
