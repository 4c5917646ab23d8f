/*
 * The Multiboot v1 handoff (multiboot.h): finding the header, planning where the boot
 * information and modules go, and writing the info structure and memory map. Knows the
 * spec's formats and QEMU's placement; nothing of guests or of how bytes reach RAM.
 */
#include <keel/errno.h>
#include <keel/printk.h>
#include <keel/string.h>
#include <stdarg.h>

#include "layout.h"
#include "multiboot.h"

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

bool mb_header_find(const void *data, uint64_t size, struct mb_header *h)
{
	const uint8_t *p = data;
	uint64_t end = size < MB_HEADER_SEARCH ? size : MB_HEADER_SEARCH;
	for (uint64_t off = 0; off + MB_HEADER_SIZE <= end; off += 4) {
		const uint8_t *w = p + off;
		if (rd32(w) != MB_HEADER_MAGIC || rd32(w) + rd32(w + 4) + rd32(w + 8) != 0)
			continue;
		*h = (struct mb_header){ .offset = off,
					 .flags = rd32(w + 4),
					 .header_addr = rd32(w + 12),
					 .load_addr = rd32(w + 16),
					 .load_end_addr = rd32(w + 20),
					 .bss_end_addr = rd32(w + 24),
					 .entry_addr = rd32(w + 28) };
		return true;
	}
	return false;
}

__printf(4, 5) static int plan_fail(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;
	if (!len)
		return err;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return err;
}

static uint64_t page_up(uint64_t x)
{
	return (x + PAGE_MASK) & ~PAGE_MASK;
}

/* Bytes of the area: the module list, each module's string, the command line, the
 * loader's name (QEMU's order), each string with its NUL. */
static uint64_t area_len(const struct mb_boot *b)
{
	uint64_t len = (uint64_t)b->mod_count * MB_MOD_ENTRY;
	for (unsigned i = 0; i < b->mod_count; i++)
		len += strlen(b->mod_string[i]) + 1;
	return len + strlen(b->cmdline) + 1 + sizeof(MB_LOADER_NAME);
}

static int plan_check(const struct mb_boot *b, char *why, size_t why_len)
{
	if (b->mod_count > MB_MOD_MAX)
		return plan_fail(why, why_len, -EINVAL, "%u modules (at most %u)", b->mod_count,
				 MB_MOD_MAX);
	for (unsigned i = 0; i < b->mod_count; i++)
		if (!b->mod_string[i])
			return plan_fail(why, why_len, -EINVAL, "module %u has no string", i);
	if (!b->cmdline || b->image_lo >= b->image_hi || b->image_hi > b->mem)
		return plan_fail(why, why_len, -EINVAL,
				 "no command line, or the image is not in RAM");
	return 0;
}

int mb_plan(const struct mb_boot *b, struct mb_plan *p, char *why, size_t why_len)
{
	if (why_len)
		why[0] = '\0';
	int err = plan_check(b, why, why_len);
	if (err)
		return err;
	memset(p, 0, sizeof(*p));
	p->mmap_gpa = GUEST_MB_LOW;
	p->info_gpa = GUEST_MB_INFO;
	/* After the image's last page; an image wholly below the low page puts the area
	 * at 1 MiB rather than over the memory map (QEMU would overwrite it there). */
	p->area_gpa = page_up(b->image_hi);
	if (p->area_gpa < GUEST_MB_HOLE_END)
		p->area_gpa = GUEST_MB_HOLE_END;
	p->area_len = area_len(b);
	uint64_t at = page_up(p->area_gpa + p->area_len);
	for (unsigned i = 0; i < b->mod_count; i++) {
		p->mod_gpa[i] = at;
		if (b->mod_size[i] > b->mem)
			at = ~0ull;
		else
			at = page_up(at + b->mod_size[i]);
		if (at > b->mem)
			break;
	}
	p->end = at;
	if (at > b->mem || at > 0xFFFFFFFFull)
		return plan_fail(why, why_len, -ERANGE,
				 "the Multiboot modules and strings do not fit in guest RAM (they "
				 "need up to 0x%llx, mem is 0x%llx; raise mem=)",
				 (unsigned long long)at, (unsigned long long)b->mem);
	return 0;
}

/* One memory map entry (3.3: size, base_addr, length, type; size excludes itself). */
static uint8_t *mmap_entry(uint8_t *e, uint64_t base, uint64_t len, uint32_t type)
{
	wr32(e, MB_MMAP_ENTRY - 4);
	wr64(e + 4, base);
	wr64(e + 12, len);
	wr32(e + 20, type);
	return e + MB_MMAP_ENTRY;
}

/* QEMU's pc map: low RAM, the EBDA and the BIOS area reserved, RAM from 1 MiB, the I/O
 * APIC and LAPIC pages and the BIOS flash reserved. Type 1 RAM, 2 reserved. */
static void build_mmap(uint8_t *e, uint64_t mem)
{
	e = mmap_entry(e, 0, GUEST_LOW_RAM_END, 1);
	e = mmap_entry(e, GUEST_LOW_RAM_END, 0xA0000 - GUEST_LOW_RAM_END, 2);
	e = mmap_entry(e, 0xF0000, 0x10000, 2);
	e = mmap_entry(e, MiB(1), mem - MiB(1), 1);
	e = mmap_entry(e, 0xFEC00000, PAGE_SIZE, 2);
	e = mmap_entry(e, 0xFEE00000, PAGE_SIZE, 2);
	(void)mmap_entry(e, 0xFFFC0000, 0x40000, 2);
}

/* Copies s with its NUL to area + *off; returns its guest-physical address. */
static uint32_t put_string(uint8_t *area, uint64_t *off, uint64_t area_gpa, const char *s)
{
	size_t len = strlen(s) + 1;
	memcpy(area + *off, s, len);
	uint32_t gpa = (uint32_t)(area_gpa + *off);
	*off += len;
	return gpa;
}

void mb_build(const struct mb_boot *b, const struct mb_plan *p, uint8_t *low, uint8_t *area)
{
	memset(low, 0, MB_LOW_SIZE);
	memset(area, 0, p->area_len);
	build_mmap(low + (p->mmap_gpa - GUEST_MB_LOW), b->mem);
	uint64_t off = (uint64_t)b->mod_count * MB_MOD_ENTRY;
	for (unsigned i = 0; i < b->mod_count; i++) {
		uint8_t *m = area + i * MB_MOD_ENTRY;
		wr32(m, (uint32_t)p->mod_gpa[i]);
		wr32(m + 4, (uint32_t)(p->mod_gpa[i] + b->mod_size[i]));
		wr32(m + 8, put_string(area, &off, p->area_gpa, b->mod_string[i]));
	}
	uint8_t *info = low + (p->info_gpa - GUEST_MB_LOW);
	wr32(info + 0, MB_INFO_FLAGS);
	wr32(info + 4, (uint32_t)(GUEST_LOW_RAM_END >> 10)); /* mem_lower: 639 KiB */
	wr32(info + 8, (uint32_t)((b->mem - MiB(1)) >> 10)); /* mem_upper */
	wr32(info + 12, MB_BOOT_DEVICE);
	wr32(info + 16, put_string(area, &off, p->area_gpa, b->cmdline));
	wr32(info + 20, b->mod_count);
	wr32(info + 24, (uint32_t)p->area_gpa);
	wr32(info + 44, MB_MMAP_COUNT * MB_MMAP_ENTRY);
	wr32(info + 48, p->mmap_gpa);
	wr32(info + 64, put_string(area, &off, p->area_gpa, MB_LOADER_NAME));
}
