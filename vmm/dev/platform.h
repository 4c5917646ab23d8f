/*
 * Which emulated devices a guest gets. One platform, a PC as QEMU's `pc` machine shows
 * it to a Multiboot kernel: the UART, the ports that end a guest (exit port, reset,
 * power off), fw_cfg, the 8259 pair, the 8254 PIT with port 0x61, the CMOS/RTC, PCI
 * configuration with no device, port 0x80 (the virtual timer needs no registration:
 * it is per vCPU).
 */
#ifndef VMM_DEV_PLATFORM_H
#define VMM_DEV_PLATFORM_H

#include "../guest.h"

/* Creates g->devices with Keel's devices. Returns 0 or -ENOMEM (g->devices NULL). */
int vdev_platform_keel(struct guest *g) __must_check;

#endif
