/*
 * The PC's MC146818-style real-time clock and CMOS RAM (Motorola MC146818A data sheet;
 * the PC's CMOS map): port 0x70 selects a byte (bit 7: the NMI mask, kept, not acted
 * on), port 0x71 reads or writes it. Every index 0x00-0x7F is valid.
 *   0x00/02/04 seconds, minutes, hours; 0x06 weekday (1 = Sunday); 0x07-0x09 day,
 *        month, year; 0x32 century: the guest's clock, Keel's epoch (KEEL_RTC_EPOCH,
 *        there is no host RTC reading) plus the time since the guest was built,
 *        in BCD or binary and 24- or 12-hour form as status B says; writes ignored
 *   0x0A status A: 0x26 (32.768 kHz, 1024 Hz), update-in-progress never set
 *   0x0B status B: written bits kept; 0x02 (24-hour, BCD) at start
 *   0x0C status C: 0 (no interrupt flags); 0x0D status D: 0x80 (valid RAM and time)
 *   the rest: RAM, read back as written; at start the sizes firmware leaves there
 *        (base memory 0x15/16, extended memory 0x17/18 and 0x30/31, memory above
 *        16 MiB in 64 KiB units 0x34/35, vCPUs - 1 at 0x5F: QEMU's bytes).
 */
#include <keel/heap.h>
#include <keel/time.h>

#include "rtc.h"

#define KEEL_RTC_EPOCH 1767225600ull /* 2026-01-01 00:00:00 UTC, a Thursday */
#define RTC_B_24H 0x02
#define RTC_B_BINARY 0x04

/* [a] relaxed: index and bytes; the vCPUs' interleaving is the guest's race. */
struct vrtc {
	uint8_t index;
	uint8_t ram[128];
	uint64_t tsc0; /* [c] the guest's time 0 */
};

void vrtc_civil(uint64_t days, unsigned *year, unsigned *month, unsigned *mday)
{
	/* Eras of 400 years (146097 days) from 0000-03-01. */
	uint64_t z = days + 719468, era = z / 146097, doe = z % 146097;
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	*mday = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*year = (unsigned)(yoe + era * 400 + (*month <= 2));
}

static uint8_t rtc_encode(const struct vrtc *r, unsigned v)
{
	if (__atomic_load_n(&r->ram[0x0B], __ATOMIC_RELAXED) & RTC_B_BINARY)
		return (uint8_t)v;
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/* Hours in the form status B asks: 24-hour, or 1-12 with bit 7 for PM. */
static uint8_t rtc_hour(const struct vrtc *r, unsigned h)
{
	if (__atomic_load_n(&r->ram[0x0B], __ATOMIC_RELAXED) & RTC_B_24H)
		return rtc_encode(r, h);
	unsigned h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(rtc_encode(r, h12) | (h >= 12 ? 0x80 : 0));
}

/* A clock register's value now; -1 for any other index. */
static int rtc_clock(const struct vrtc *r, unsigned idx)
{
	uint64_t hz = time_cycles_hz();
	uint64_t t = KEEL_RTC_EPOCH + (hz ? (rdtsc() - r->tsc0) / hz : 0);
	uint64_t days = t / 86400, s = t % 86400;
	unsigned year, month, mday;
	vrtc_civil(days, &year, &month, &mday);
	switch (idx) {
	case 0x00:
		return rtc_encode(r, (unsigned)(s % 60));
	case 0x02:
		return rtc_encode(r, (unsigned)(s / 60 % 60));
	case 0x04:
		return rtc_hour(r, (unsigned)(s / 3600));
	case 0x06:
		return rtc_encode(r, (unsigned)((days + 4) % 7 + 1)); /* 1970-01-01: Thursday */
	case 0x07:
		return rtc_encode(r, mday);
	case 0x08:
		return rtc_encode(r, month);
	case 0x09:
		return rtc_encode(r, year % 100);
	case 0x32:
		return rtc_encode(r, year / 100);
	}
	return -1;
}

static enum exit_action rtc_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				 uint64_t *val)
{
	struct vrtc *r = state;
	if (off == 0)
		return EXIT_RESUME; /* the index port is write-only */
	unsigned idx = __atomic_load_n(&r->index, __ATOMIC_RELAXED) & 0x7F;
	int clock = rtc_clock(r, idx);
	*val = clock >= 0 ? (uint64_t)clock : __atomic_load_n(&r->ram[idx], __ATOMIC_RELAXED);
	return EXIT_RESUME;
}

static enum exit_action rtc_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				  uint64_t val)
{
	struct vrtc *r = state;
	if (off == 0) {
		__atomic_store_n(&r->index, (uint8_t)val, __ATOMIC_RELAXED);
		return EXIT_RESUME;
	}
	unsigned idx = __atomic_load_n(&r->index, __ATOMIC_RELAXED) & 0x7F;
	bool fixed = idx == 0x0A || idx == 0x0C || idx == 0x0D || rtc_clock(r, idx) >= 0;
	if (!fixed)
		__atomic_store_n(&r->ram[idx], (uint8_t)val, __ATOMIC_RELAXED);
	return EXIT_RESUME;
}

static void put16(uint8_t *ram, unsigned idx, uint64_t v)
{
	v = v > 0xFFFF ? 0xFFFF : v;
	ram[idx] = (uint8_t)v;
	ram[idx + 1] = (uint8_t)(v >> 8);
}

static const struct vdev_ops rtc_ops = { "CMOS/RTC", rtc_read, rtc_write };

int vrtc_attach(struct guest *g, struct vdev_bus *bus)
{
	struct vrtc *r = kzalloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->tsc0 = rdtsc();
	r->ram[0x0A] = 0x26;
	r->ram[0x0B] = RTC_B_24H;
	r->ram[0x0D] = 0x80;
	put16(r->ram, 0x15, 640);
	put16(r->ram, 0x17, (g->mem - MiB(1)) >> 10);
	put16(r->ram, 0x30, (g->mem - MiB(1)) >> 10);
	put16(r->ram, 0x34, g->mem > MiB(16) ? (g->mem - MiB(16)) >> 16 : 0);
	r->ram[0x5F] = (uint8_t)(g->vcpu_count - 1);
	return vdev_register(bus, VDEV_PIO, 0x70, 2, &rtc_ops, r);
}
