/* The MC146818 RTC and CMOS RAM at 0x70/0x71 (rtc.c). */
#ifndef VMM_DEV_RTC_H
#define VMM_DEV_RTC_H

#include "dev.h"

/* Registers ports 0x70-0x71 on g's bus, with g's RAM size and vCPU count in the CMOS
 * bytes PC firmware reads. 0, -ENOMEM or vdev_register's error. */
int vrtc_attach(struct guest *g, struct vdev_bus *bus) __must_check;

/* Calendar date of a day count since 1970-01-01 (proleptic Gregorian). Pure. */
void vrtc_civil(uint64_t days, unsigned *year, unsigned *month, unsigned *mday);

#endif
