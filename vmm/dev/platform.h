/*
 * Which emulated devices a guest gets. Today one platform, Keel's own: the UART and the
 * exit port (the virtual timer needs no registration: it is per vCPU).
 */
#ifndef VMM_DEV_PLATFORM_H
#define VMM_DEV_PLATFORM_H

#include "../guest.h"

/* Creates g->devices with Keel's devices. Returns 0 or -ENOMEM (g->devices NULL). */
int vdev_platform_keel(struct guest *g) __must_check;

#endif
