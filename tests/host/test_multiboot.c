/*
 * Host tests of the Multiboot v1 handoff (vmm/multiboot.c), of the Multiboot loading
 * path of the image parser (vmm/image.c) and of the guest description parser's
 * Multiboot keys (vmm/guest_desc.c). Structures are read back with offsets written here
 * from the Multiboot Specification 0.6.96 (3.1.2 header, 3.3 info, memory map, modules),
 * not with the code's own, so a wrong offset in the code shows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/boot.h>
#include <keel/cmdline.h>
#include <keel/compiler.h>
#include <keel/errno.h>

#include "frame_fake.h"
#include "guest_desc.h"
#include "image.h"
#include "layout.h"
#include "multiboot.h"

/* kernel/cmdline.c (linked for cmdline_parse_uint) reads these; nothing here uses them. */
struct boot_info boot_info;
const struct cmdline_opt __cmdline_opts_start[1], __cmdline_opts_end[1];

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A header at off: magic, flags, checksum, then the five address fields. */
static void put_header(uint8_t *img, size_t off, uint32_t flags, const uint32_t addr[5])
{
	put32(img + off, MB_HEADER_MAGIC);
	put32(img + off + 4, flags);
	put32(img + off + 8, 0u - MB_HEADER_MAGIC - flags);
	for (int i = 0; i < 5; i++)
		put32(img + off + 12 + 4 * i, addr ? addr[i] : 0);
}

static bool header_found_aligned_in_first_8k_with_checksum(void)
{
	static uint8_t img[12288];
	struct mb_header h;
	memset(img, 0, sizeof(img));
	T_ASSERT(!mb_header_find(img, sizeof(img), &h));
	put_header(img, 8192, 0, NULL); /* beyond the first 8 KiB */
	T_ASSERT(!mb_header_find(img, sizeof(img), &h));
	put_header(img, 8192 - 48, 0, NULL); /* the last place it may be */
	T_ASSERT(mb_header_find(img, sizeof(img), &h) && h.offset == 8192 - 48);
	T_ASSERT(!mb_header_find(img, 8192 - 4, &h)); /* cut short by the file's end */
	put_header(img, 102, 3, NULL);		      /* unaligned: not found; the later one is */
	T_ASSERT(mb_header_find(img, sizeof(img), &h) && h.offset == 8192 - 48);
	uint32_t addr[5] = { 0x100010, 0x100000, 0x100800, 0x101000, 0x100020 };
	put_header(img, 16, MB_HF_AOUT_KLUDGE | 3, addr);
	T_ASSERT(mb_header_find(img, sizeof(img), &h));
	T_ASSERT(h.offset == 16 && h.flags == (MB_HF_AOUT_KLUDGE | 3));
	T_ASSERT(h.header_addr == 0x100010 && h.load_addr == 0x100000 &&
		 h.load_end_addr == 0x100800 && h.bss_end_addr == 0x101000 &&
		 h.entry_addr == 0x100020);
	put32(img + 24, get32(img + 24) + 1); /* bad checksum */
	memset(img + 8192 - 48, 0, 48);
	T_ASSERT(!mb_header_find(img, sizeof(img), &h));
	return true;
}

static const struct guest_image_layout mb_lay = { .load_min = GUEST_MB_LOAD_MIN,
						  .mem = MiB(8),
						  .hole_lo = GUEST_MB_LOW,
						  .hole_hi = GUEST_MB_HOLE_END };

/* Parses a 0x2000-byte kludge image with a header at 0x40 and these address fields. */
static int parse_aout(const uint32_t addr[5], struct guest_image *out)
{
	static uint8_t img[0x2000];
	struct mb_header h;
	memset(img, 0xAB, sizeof(img));
	put_header(img, 0x40, MB_HF_AOUT_KLUDGE, addr);
	if (!mb_header_find(img, sizeof(img), &h))
		return -99;
	uint8_t *copy = malloc(sizeof(img)); /* exactly its size: ASan sees overreads */
	memcpy(copy, img, sizeof(img));
	char why[160];
	int err =
	    guest_image_parse_multiboot(copy, sizeof(img), &h, &mb_lay, out, why, sizeof(why));
	if (!fake_quiet)
		printf("# aout: %d %s\n", err, why);
	free(copy);
	return err;
}

static bool aout_kludge_loads_by_address_fields(void)
{
	struct guest_image out;
	/* header at file 0x40 = address 0x100040: the text starts at file 0 */
	uint32_t a[5] = { 0x100040, 0x100000, 0x101000, 0x104000, 0x100080 };
	T_ASSERT(parse_aout(a, &out) == 0);
	T_ASSERT(out.multiboot && out.kind == GUEST_IMAGE_MB_AOUT && out.entry == 0x100080);
	T_ASSERT(out.seg_count == 1 && out.seg[0].gpa.v == 0x100000);
	T_ASSERT(out.seg[0].file_off == 0 && out.seg[0].file_size == 0x1000 &&
		 out.seg[0].mem_size == 0x4000);
	/* load_addr 0x20 below the header's address: text from file offset 0x20 */
	uint32_t b[5] = { 0x200040, 0x200020, 0, 0, 0x200020 };
	T_ASSERT(parse_aout(b, &out) == 0);
	T_ASSERT(out.seg[0].file_off == 0x20 && out.seg[0].file_size == 0x2000 - 0x20 &&
		 out.seg[0].mem_size == 0x2000 - 0x20);
	/* below 1 MiB where RAM is, under the low page */
	uint32_t low[5] = { 0x8040, 0x8000, 0x8800, 0x8C00, 0x8000 };
	T_ASSERT(parse_aout(low, &out) == 0 && out.seg[0].gpa.v == 0x8000);
	return true;
}

static bool aout_kludge_bad_fields_rejected(void)
{
	struct guest_image out;
	static const uint32_t bad[][5] = {
		{ 0x100040, 0x100080, 0, 0, 0x100080 },		      /* load after the header */
		{ 0x100040, 0x0FF000, 0, 0, 0x100000 },		      /* text before the file */
		{ 0x100040, 0x100000, 0x0FF000, 0, 0x100000 },	      /* load_end before load */
		{ 0x100040, 0x100000, 0x103000, 0, 0x100000 },	      /* load_end beyond the file */
		{ 0x100040, 0x100000, 0x101000, 0x100800, 0x100000 }, /* bss_end < load_end */
		{ 0x100040, 0x100000, 0x101000, 0, 0x101000 },	      /* entry past the end */
		{ 0x100040, 0x100000, 0x101000, 0, 0x0FFFFF },	      /* entry before */
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		T_ASSERT(parse_aout(bad[i], &out) == -ENOEXEC);
	/* placement: over Keel's low page, in the PC hole, beyond RAM, under 0x500 */
	static const uint32_t far[][5] = {
		{ 0x9040, 0x9000, 0x9100, 0, 0x9000 },
		{ 0x8040, 0x8000, 0x8800, 0x9001, 0x8000 }, /* bss reaches 0x9001 */
		{ 0xB8040, 0xB8000, 0xB8100, 0, 0xB8000 },
		{ 0x7FF040, 0x7FF000, 0, 0x801000, 0x7FF000 },
		{ 0x440, 0x400, 0x500, 0, 0x400 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(far); i++)
		T_ASSERT(parse_aout(far[i], &out) == -ERANGE);
	return true;
}

/* A minimal ELF header (class at byte 4): an ELF64 without the kludge is refused. */
static bool elf64_without_kludge_refused_not_elf_refused(void)
{
	static uint8_t img[256];
	struct mb_header h;
	struct guest_image out;
	memset(img, 0, sizeof(img));
	memcpy(img, "\177ELF", 4);
	img[4] = 2;
	put_header(img, 64, 0, NULL);
	T_ASSERT(mb_header_find(img, sizeof(img), &h));
	T_ASSERT(guest_image_parse_multiboot(img, sizeof(img), &h, &mb_lay, &out, NULL, 0) ==
		 -ENOTSUP);
	img[0] = 'X'; /* neither ELF nor kludge */
	T_ASSERT(guest_image_parse_multiboot(img, sizeof(img), &h, &mb_lay, &out, NULL, 0) ==
		 -ENOEXEC);
	T_ASSERT(!strcmp(guest_image_kind_str(GUEST_IMAGE_MB_AOUT), "Multiboot a.out-kludge"));
	return true;
}

/* Random address fields and sizes: the parser never reads outside the image (ASan),
 * and what it accepts is inside the layout with the entry in the segment. */
static bool aout_random_fields_keep_promises(void)
{
	fake_rng_state = 0x9E3779B97F4A7C15ull;
	unsigned accepted = 0, rejected = 0;
	for (unsigned round = 0; round < 20000; round++) {
		size_t size = 48 + fake_rng_next() % 0x3000, off = (fake_rng_next() % 64) * 4;
		if (off + 48 > size)
			off = 0;
		uint8_t *img = malloc(size);
		memset(img, 0x5A, size);
		uint32_t base =
		    (uint32_t)(fake_rng_next() % 2 ? 0x100000 : fake_rng_next() % 0x10000);
		uint32_t a[5] = { base + (uint32_t)off, base, 0, 0, base };
		for (int i = 0; i < 5; i++)
			if (fake_rng_next() % 3 == 0)
				a[i] = (uint32_t)(a[i] + (fake_rng_next() % 0x4000) - 0x2000);
		if (fake_rng_next() % 2)
			a[2] = base + (uint32_t)(fake_rng_next() % 0x4000);
		if (fake_rng_next() % 2)
			a[3] = a[2] + (uint32_t)(fake_rng_next() % 0x4000);
		put_header(img, off, MB_HF_AOUT_KLUDGE, a);
		struct mb_header h;
		struct guest_image out;
		bool found = mb_header_find(img, size, &h);
		int err =
		    found ? guest_image_parse_multiboot(img, size, &h, &mb_lay, &out, NULL, 0) : -1;
		free(img);
		if (err) {
			rejected++;
			continue;
		}
		accepted++;
		const struct guest_image_seg *sg = &out.seg[0];
		T_ASSERT(out.seg_count == 1 && sg->file_size <= sg->mem_size);
		T_ASSERT(sg->file_off + sg->file_size <= size);
		T_ASSERT(sg->gpa.v >= mb_lay.load_min && sg->gpa.v + sg->mem_size <= mb_lay.mem);
		T_ASSERT(sg->gpa.v + sg->mem_size <= mb_lay.hole_lo || sg->gpa.v >= mb_lay.hole_hi);
		T_ASSERT(out.entry >= sg->gpa.v && out.entry < sg->gpa.v + sg->mem_size);
	}
	if (!fake_quiet)
		printf("# %u accepted, %u rejected\n", accepted, rejected);
	T_ASSERT(accepted > 1000 && rejected > 1000);
	return true;
}

/* ---- the info structure ---- */

static const struct mb_boot two_mods = {
	.mem = MiB(32),
	.image_lo = 0x100000,
	.image_hi = 0x123456,
	.cmdline = "kernel.elf a b  c",
	.mod_count = 2,
	.mod_string = { "m1 x=1 y", "m2" },
	.mod_size = { 5000, 1 },
};

static bool plan_follows_image_and_aligns_modules(void)
{
	struct mb_plan p;
	char why[160];
	T_ASSERT(mb_plan(&two_mods, &p, why, sizeof(why)) == 0);
	T_ASSERT(p.info_gpa == 0x9500 && p.mmap_gpa == 0x9000);
	T_ASSERT(p.area_gpa == 0x124000); /* the page after the image */
	/* 2 entries + "m1 x=1 y" + "m2" + cmdline + "keel", each with its NUL */
	T_ASSERT(p.area_len == 32 + 9 + 3 + 18 + 5);
	T_ASSERT(p.mod_gpa[0] == 0x125000 && p.mod_gpa[1] == 0x127000);
	T_ASSERT(p.end == 0x128000);
	/* an image wholly under the low page: the area goes to 1 MiB, not over 0x9000 */
	struct mb_boot low = two_mods;
	low.image_lo = 0x1000;
	low.image_hi = 0x2000;
	T_ASSERT(mb_plan(&low, &p, why, sizeof(why)) == 0 && p.area_gpa == 0x100000);
	return true;
}

static bool plan_refuses_what_does_not_fit(void)
{
	struct mb_plan p;
	char why[160];
	struct mb_boot b = two_mods;
	b.mod_size[1] = MiB(31); /* ends beyond 32 MiB */
	T_ASSERT(mb_plan(&b, &p, why, sizeof(why)) == -ERANGE && strstr(why, "mem="));
	b.mod_size[1] = ~0ull; /* no wrap */
	T_ASSERT(mb_plan(&b, &p, why, sizeof(why)) == -ERANGE);
	b = two_mods;
	b.mod_count = MB_MOD_MAX + 1;
	T_ASSERT(mb_plan(&b, &p, why, sizeof(why)) == -EINVAL && why[0]);
	b = two_mods;
	b.mod_string[1] = NULL;
	T_ASSERT(mb_plan(&b, &p, NULL, 0) == -EINVAL);
	b = two_mods;
	b.image_hi = MiB(33);
	T_ASSERT(mb_plan(&b, &p, why, sizeof(why)) == -EINVAL);
	return true;
}

static bool info_block_says_what_qemu_says(void)
{
	struct mb_plan p;
	T_ASSERT(mb_plan(&two_mods, &p, NULL, 0) == 0);
	static uint8_t low[MB_LOW_SIZE];
	uint8_t *area = malloc(p.area_len);
	memset(low, 0xEE, sizeof(low));
	mb_build(&two_mods, &p, low, area);
	const uint8_t *info = low + 0x500;
	bool ok = get32(info) == 0x24f && get32(info + 4) == 639 &&
		  get32(info + 8) == (MiB(32) - MiB(1)) / 1024 && get32(info + 12) == 0x8000FFFF &&
		  get32(info + 20) == 2 && get32(info + 24) == p.area_gpa &&
		  get32(info + 44) == 7 * 24 && get32(info + 48) == 0x9000;
	/* strings by address: module strings, then the command line, then the loader */
	uint32_t cmd = get32(info + 16), name = get32(info + 64);
	ok = ok && cmd >= p.area_gpa && cmd < p.area_gpa + p.area_len &&
	     !strcmp((char *)area + (cmd - p.area_gpa), "kernel.elf a b  c") &&
	     !strcmp((char *)area + (name - p.area_gpa), "keel");
	for (unsigned i = 0; ok && i < 2; i++) {
		const uint8_t *m = area + 16 * i;
		ok = get32(m) == p.mod_gpa[i] &&
		     get32(m + 4) == p.mod_gpa[i] + two_mods.mod_size[i] &&
		     !strcmp((char *)area + (get32(m + 8) - p.area_gpa), two_mods.mod_string[i]) &&
		     get32(m + 12) == 0;
	}
	free(area);
	T_ASSERT(ok);
	return true;
}

static bool memory_map_has_the_pc_holes(void)
{
	static const struct {
		uint64_t base, len;
		uint32_t type;
	} want[] = {
		{ 0, 0x9FC00, 1 },	    { 0x9FC00, 0x400, 2 },     { 0xF0000, 0x10000, 2 },
		{ 0x100000, MiB(31), 1 },   { 0xFEC00000, 0x1000, 2 }, { 0xFEE00000, 0x1000, 2 },
		{ 0xFFFC0000, 0x40000, 2 },
	};
	struct mb_plan p;
	T_ASSERT(mb_plan(&two_mods, &p, NULL, 0) == 0);
	static uint8_t low[MB_LOW_SIZE];
	uint8_t *area = malloc(p.area_len);
	mb_build(&two_mods, &p, low, area);
	free(area);
	/* walked the way a kernel walks it: next = entry + size + 4 */
	const uint8_t *e = low, *end = low + get32(low + 0x500 + 44);
	unsigned n = 0;
	for (; e < end; e += get32(e) + 4, n++) {
		T_ASSERT(n < ARRAY_SIZE(want) && get32(e) == 20);
		T_ASSERT(get64(e + 4) == want[n].base && get64(e + 12) == want[n].len);
		T_ASSERT(get32(e + 20) == want[n].type);
	}
	T_ASSERT(n == ARRAY_SIZE(want));
	return true;
}

/* ---- guest descriptions: cmdline= and module= ---- */

static int parse(const char *s, struct guest_desc *d, const char **why)
{
	static char buf[2048];
	snprintf(buf, sizeof(buf), "%s", s);
	*why = "";
	int err = guest_desc_parse(buf, d, why);
	if (!fake_quiet)
		printf("# desc '%s': %d %s\n", s, err, *why);
	return err;
}

static bool desc_cmdline_and_modules_unescaped_in_order(void)
{
	static struct guest_desc d;
	const char *why;
	T_ASSERT(parse("mb,image=k.elf,cmdline=a%20b%2Cc%25d%3d,module=m1%20x=1,module=m2,"
		       "mem=8M",
		       &d, &why) == 0);
	T_ASSERT(d.has_cmdline && !strcmp(d.cmdline, "a b,c%d="));
	T_ASSERT(d.mod_count == 2 && !strcmp(d.mod[0], "m1 x=1") && !strcmp(d.mod[1], "m2"));
	T_ASSERT(d.mem == MiB(8) && !strcmp(d.image, "k.elf"));
	T_ASSERT(parse("mb,image=k.elf,cmdline=", &d, &why) == 0 && d.has_cmdline && !d.cmdline[0]);
	/* the one-line form is unchanged */
	T_ASSERT(parse("g,image=m,mem=4M,vcpus=2,expect=exit:3", &d, &why) == 0);
	T_ASSERT(!d.has_cmdline && !d.mod_count && d.vcpus == 2 && d.expect.status == 3);
	return true;
}

static bool desc_bad_escapes_and_too_many_modules_refused(void)
{
	static struct guest_desc d;
	static const char *const bad[] = {
		"g,image=m,cmdline=a%2",
		"g,image=m,cmdline=a%zz",
		"g,image=m,cmdline=a%00b",
		"g,image=m,cmdline=%",
		"g,image=m,cmdline=a,cmdline=b",
		"g,image=m,module=",
		"g,image=m,module=%20args",
		"g,image=m,module=m%4",
		"g,image=m,module=a,module=b,module=c,module=d,module=e,module=f,module=g,"
		"module=h,module=i",
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *why;
		T_ASSERT(parse(bad[i], &d, &why) == -EINVAL && why[0]);
	}
	char long_line[400] = "g,image=m,cmdline=";
	memset(long_line + strlen(long_line), 'x', 300);
	const char *why;
	T_ASSERT(parse(long_line, &d, &why) == -EINVAL && strstr(why, "255"));
	return true;
}

static const struct fake_test tests[] = {
	{ "header_found_aligned_in_first_8k_with_checksum",
	  header_found_aligned_in_first_8k_with_checksum },
	{ "aout_kludge_loads_by_address_fields", aout_kludge_loads_by_address_fields },
	{ "aout_kludge_bad_fields_rejected", aout_kludge_bad_fields_rejected },
	{ "aout_random_fields_keep_promises", aout_random_fields_keep_promises },
	{ "elf64_without_kludge_refused_not_elf_refused",
	  elf64_without_kludge_refused_not_elf_refused },
	{ "plan_follows_image_and_aligns_modules", plan_follows_image_and_aligns_modules },
	{ "plan_refuses_what_does_not_fit", plan_refuses_what_does_not_fit },
	{ "info_block_says_what_qemu_says", info_block_says_what_qemu_says },
	{ "memory_map_has_the_pc_holes", memory_map_has_the_pc_holes },
	{ "desc_cmdline_and_modules_unescaped_in_order",
	  desc_cmdline_and_modules_unescaped_in_order },
	{ "desc_bad_escapes_and_too_many_modules_refused",
	  desc_bad_escapes_and_too_many_modules_refused },
};

int main(int argc, char **argv)
{
	return fake_run_tests(tests, ARRAY_SIZE(tests), argc, argv, NULL);
}
