/*
 * pcdev: the legacy devices of QEMU's `pc` machine that kernels touch before any driver
 * model, read the way such kernels read them: fw_cfg (signature, CPU count, RAM size,
 * read with REP INSB too), the 8259 masks (written with REP OUTSB too), the 8254's
 * counter 2 moving with time and its OUT reaching port 0x61, the CMOS clock and memory
 * bytes, PCI configuration (an empty slot answers all ones), the 16550's registers
 * (scratch, divisor latch, loopback), and an unknown port reading all ones. Every TAP
 * line says what any correct PC says (run with 1 CPU and 128 MiB).
 */
#include "mb.h"

static uint64_t fw_cfg_read(uint16_t key, unsigned len)
{
	uint64_t v = 0;
	outw(0x510, key);
	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)inb(0x511) << (8 * i);
	return v;
}

static void check_fw_cfg(void)
{
	char sig[5] = { 0 };
	outw(0x510, 0);
	for (unsigned i = 0; i < 4; i++)
		sig[i] = (char)inb(0x511);
	tap_ok(!strcmp(sig, "QEMU"), "fw_cfg signature 'QEMU'");
	tap_ok(fw_cfg_read(0x01, 4) & 1, "fw_cfg interface ID: traditional");
	tap_ok(fw_cfg_read(0x05, 2) == 1, "fw_cfg NB_CPUS = 1");
	tap_ok(fw_cfg_read(0x03, 8) == 128ull << 20, "fw_cfg RAM_SIZE = 128 MiB");
	char rep[5] = { 0 }, *dst = rep;
	uint32_t n = 4;
	outw(0x510, 0);
	__asm__ volatile("cld; rep insb" : "+D"(dst), "+c"(n) : "d"(0x511) : "memory");
	tap_ok(!strcmp(rep, "QEMU"), "REP INSB from fw_cfg reads the signature");
}

static void check_pic(void)
{
	static const uint8_t masks[2] = { 0x11, 0xA5 };
	outb(0x21, 0x5A);
	outb(0xA1, 0xC3);
	bool back = inb(0x21) == 0x5A && inb(0xA1) == 0xC3;
	tap_ok(back, "8259 masks read back (master and slave)");
	const uint8_t *src = masks;
	uint32_t n = 2;
	__asm__ volatile("cld; rep outsb" : "+S"(src), "+c"(n) : "d"(0x21) : "memory");
	tap_ok(inb(0x21) == 0xA5, "REP OUTSB to the mask port: the last byte wins");
	outb(0x21, 0xFF);
	outb(0xA1, 0xFF);
}

/* Counter 2, mode 0, latched and read LSB then MSB. */
static uint16_t pit2_read(void)
{
	outb(0x43, 0x80);
	uint16_t lo = inb(0x42);
	return (uint16_t)(lo | inb(0x42) << 8);
}

static void check_pit(void)
{
	outb(0x61, (inb(0x61) & ~0x02) | 0x01); /* gate 2 on, speaker off */
	outb(0x43, 0xB0);			/* counter 2, LSB+MSB, mode 0 */
	outb(0x42, 0xFF);
	outb(0x42, 0xFF);
	uint16_t first = pit2_read(), now = first;
	for (unsigned i = 0; i < 1000000 && now == first; i++)
		now = pit2_read();
	tap_ok(now != first && now < first, "8254 counter 2 counts down with time");
	outb(0x43, 0xB0);
	outb(0x42, 0x00);
	outb(0x42, 0x04); /* 1024 clocks: about 0.86 ms */
	bool low = !(inb(0x61) & 0x20), high = false;
	for (unsigned i = 0; i < 1000000 && !high; i++)
		high = inb(0x61) & 0x20;
	tap_ok(low && high, "OUT2 (port 0x61 bit 5) rises at terminal count");
	outb(0x61, inb(0x61) & ~0x03);
}

static uint8_t cmos(uint8_t idx)
{
	outb(0x70, idx);
	return inb(0x71);
}

static bool bcd_below(uint8_t v, unsigned max)
{
	return (v & 0xF) < 10 && (v >> 4) < 10 && (unsigned)((v >> 4) * 10 + (v & 0xF)) < max;
}

static void check_cmos(void)
{
	tap_ok((cmos(0x0B) & 0x06) == 0x02, "RTC status B: 24-hour, BCD");
	tap_ok(cmos(0x0D) & 0x80, "RTC status D: valid");
	tap_ok(bcd_below(cmos(0x00), 60) && bcd_below(cmos(0x02), 60) && bcd_below(cmos(0x04), 24),
	       "RTC time in BCD");
	uint8_t m = cmos(0x08), d = cmos(0x07);
	tap_ok(bcd_below(m, 13) && m && bcd_below(d, 32) && d, "RTC date in BCD");
	tap_ok((cmos(0x15) | cmos(0x16) << 8) == 640, "CMOS base memory 640 KiB");
	outb(0x70, 0x4F);
	outb(0x71, 0x3C);
	tap_ok(cmos(0x4F) == 0x3C, "CMOS RAM reads back");
}

static void check_pci_and_unknown(void)
{
	uint32_t addr = 0x80000000u | 31u << 11; /* bus 0, device 31: empty on a pc */
	outl(0xCF8, addr);
	tap_ok(inl(0xCF8) == addr, "PCI CONFIG_ADDRESS reads back");
	tap_ok(inl(0xCFC) == 0xFFFFFFFFu, "PCI: an empty slot reads all ones");
	outb(0x80, 0x42); /* POST code: nothing happens */
	tap_ok(inb(0x2F9) == 0xFF, "an unknown port reads all ones");
}

/* The UART's registers; nothing is printed while the line is in loopback. */
static void check_uart(void)
{
	const uint16_t u = 0x3F8;
	outb(u + 7, 0x5A);
	bool scr = inb(u + 7) == 0x5A;
	outb(u + 3, 0x83);
	outb(u + 0, 0x01);
	outb(u + 1, 0x00);
	bool dl = inb(u + 0) == 0x01 && inb(u + 1) == 0x00 && inb(u + 3) == 0x83;
	outb(u + 3, 0x03);
	outb(u + 1, 0x00);
	bool ier = inb(u + 1) == 0x00;
	outb(u + 4, 0x10); /* loopback, all lines low */
	bool loop_low = (inb(u + 6) & 0xF0) == 0;
	outb(u + 4, 0x1F);
	bool loop_high = (inb(u + 6) & 0xF0) == 0xF0;
	(void)inb(u + 0);
	outb(u + 0, 'k');
	bool dr = false;
	for (unsigned i = 0; i < 100000 && !dr; i++)
		dr = inb(u + 5) & 0x01;
	bool rx = inb(u + 0) == 'k';
	outb(u + 4, 0x03);
	tap_ok(scr, "16550 scratch register");
	tap_ok(dl, "16550 divisor latch and LCR read back, nothing printed");
	tap_ok(ier, "16550 IER reads back");
	tap_ok(loop_low && loop_high, "16550 loopback: MSR follows MCR");
	tap_ok(dr && rx, "16550 loopback: a byte sent is received");
	tap_ok(inb(u + 5) & 0x20, "16550 LSR: transmitter empty");
}

int mb_main(uint32_t magic, const struct mb_info *info)
{
	(void)magic;
	(void)info;
	tap_plan(24);
	check_fw_cfg();
	check_pic();
	check_pit();
	check_cmos();
	check_pci_and_unknown();
	check_uart();
	return tap_done();
}
