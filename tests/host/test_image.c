/*
 * Host tests of the guest image parser (vmm/image.c). ELF images are built here with the
 * host's <elf.h> structs, not with the parser's own field offsets, so a wrong offset in
 * the parser shows. Every image is parsed from a heap copy of exactly its size, so ASan
 * catches any read past the end. Run with -v to see every rejection reason.
 */
#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/compiler.h>
#include <keel/errno.h>

#include "frame_fake.h"
#include "image.h"

#define LOAD_MIN 0x100000ull
#define MEM MiB(4)
#define BUF_CAP 0x4000
#define SPEC_PH_MAX 12

static const struct guest_image_layout lay = { .flat_gpa = LOAD_MIN,
					       .load_min = LOAD_MIN,
					       .mem = MEM };

/* Fails the running test with a formatted reason (returns false). */
__printf(1, 2) static bool t_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fake_why, sizeof(fake_why), fmt, ap);
	va_end(ap);
	return false;
}
#define T_FAIL(...) return t_fail(__VA_ARGS__)
/* Returns false from the running test if a check (that set fake_why) failed. */
#define T_CHECK(x)                    \
	do {                          \
		if (!(x))             \
			return false; \
	} while (0)

/* ---- building ELF images ---- */

struct seg_spec {
	uint32_t type, flags;
	uint64_t off, vaddr, paddr, filesz, memsz;
};

/* Every field the builder writes, so a case can set any of them to anything. */
struct elf_spec {
	bool is64;
	uint8_t ident_class, ident_data, ident_version;
	uint16_t type, machine, ehsize, phentsize, phnum;
	uint32_t version;
	uint64_t entry, phoff;
	size_t size; /* bytes handed to the parser (BUF_CAP at most) */
	struct seg_spec ph[SPEC_PH_MAX];
};

/*
 * A valid static executable: text (R X) at 1 MiB, data+bss (RW) at 1 MiB + 8 KiB, a note
 * and a GNU_STACK header that loads nothing, entered 16 bytes into the text.
 */
static struct elf_spec valid_spec(bool is64)
{
	struct elf_spec s = {
		.is64 = is64,
		.ident_class = is64 ? ELFCLASS64 : ELFCLASS32,
		.ident_data = ELFDATA2LSB,
		.ident_version = EV_CURRENT,
		.type = ET_EXEC,
		.machine = is64 ? EM_X86_64 : EM_386,
		.ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr),
		.phentsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr),
		.phnum = 4,
		.version = EV_CURRENT,
		.entry = LOAD_MIN + 0x10,
		.size = 0x1c20,
	};
	s.phoff = s.ehsize;
	s.ph[0] =
	    (struct seg_spec){ PT_LOAD, PF_R | PF_X, 0x1000, LOAD_MIN, LOAD_MIN, 0x800, 0x800 };
	s.ph[1] = (struct seg_spec){ PT_LOAD,		PF_R | PF_W, 0x1800, LOAD_MIN + 0x2000,
				     LOAD_MIN + 0x2000, 0x400,	     0x3000 };
	s.ph[2] = (struct seg_spec){ PT_NOTE, PF_R, 0x1c00, 0, 0, 0x20, 0x20 };
	s.ph[3] = (struct seg_spec){ PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, 0 };
	return s;
}

#define PUT_EHDR(T, buf, s)                                                                       \
	do {                                                                                      \
		T##_Ehdr e = { .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, (s)->ident_class, \
					    (s)->ident_data, (s)->ident_version } };              \
		e.e_type = (s)->type;                                                             \
		e.e_machine = (s)->machine;                                                       \
		e.e_version = (s)->version;                                                       \
		e.e_entry = (s)->entry;                                                           \
		e.e_phoff = (s)->phoff;                                                           \
		e.e_ehsize = (s)->ehsize;                                                         \
		e.e_phentsize = (s)->phentsize;                                                   \
		e.e_phnum = (s)->phnum;                                                           \
		memcpy(buf, &e, sizeof(e));                                                       \
	} while (0)

#define PUT_PHDR(T, buf, ss)                             \
	do {                                             \
		T##_Phdr p = { .p_type = (ss)->type,     \
			       .p_flags = (ss)->flags,   \
			       .p_offset = (ss)->off,    \
			       .p_vaddr = (ss)->vaddr,   \
			       .p_paddr = (ss)->paddr,   \
			       .p_filesz = (ss)->filesz, \
			       .p_memsz = (ss)->memsz,   \
			       .p_align = 0x1000 };      \
		memcpy(buf, &p, sizeof(p));              \
	} while (0)

/* Writes s into buf (BUF_CAP bytes): parts that would fall outside buf are left out. */
static void build_elf(const struct elf_spec *s, uint8_t *buf)
{
	size_t phsz = s->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	memset(buf, 0, BUF_CAP);
	for (unsigned i = 0; i < s->phnum && i < SPEC_PH_MAX; i++) {
		const struct seg_spec *ss = &s->ph[i];
		if (ss->off < BUF_CAP && ss->filesz <= BUF_CAP - ss->off)
			memset(buf + ss->off, 0xC0 + (int)i, ss->filesz);
		if (s->phoff > BUF_CAP - phsz * (i + 1))
			continue;
		if (s->is64)
			PUT_PHDR(Elf64, buf + s->phoff + phsz * i, ss);
		else
			PUT_PHDR(Elf32, buf + s->phoff + phsz * i, ss);
	}
	if (s->is64)
		PUT_EHDR(Elf64, buf, s);
	else
		PUT_EHDR(Elf32, buf, s);
}

/* Parses a heap copy of exactly size bytes (ASan sees any over-read). */
static int parse(const void *data, size_t size, const struct guest_image_layout *l,
		 struct guest_image *img, char *why, size_t why_len)
{
	void *copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	int err = guest_image_parse(copy, size, l, img, why, why_len);
	free(copy);
	return err;
}

static int parse_spec(const struct elf_spec *s, struct guest_image *img, char *why)
{
	static uint8_t buf[BUF_CAP];
	build_elf(s, buf);
	return parse(buf, s->size, &lay, img, why, 256);
}

static const char *err_name(int err)
{
	switch (err) {
	case 0:
		return "0";
	case -EINVAL:
		return "-EINVAL";
	case -ENOEXEC:
		return "-ENOEXEC";
	case -ENOTSUP:
		return "-ENOTSUP";
	case -ERANGE:
		return "-ERANGE";
	}
	return "unexpected errno";
}

/* ---- valid images ---- */

static bool seg_is(const struct guest_image_seg *g, const struct seg_spec *s)
{
	if (g->gpa.v == s->paddr && g->file_off == s->off && g->file_size == s->filesz &&
	    g->mem_size == s->memsz && g->flags == s->flags)
		return true;
	snprintf(fake_why, sizeof(fake_why),
		 "segment gpa 0x%llx off 0x%llx filesz 0x%llx memsz 0x%llx flags %u, "
		 "expected paddr 0x%llx",
		 (unsigned long long)g->gpa.v, (unsigned long long)g->file_off,
		 (unsigned long long)g->file_size, (unsigned long long)g->mem_size, g->flags,
		 (unsigned long long)s->paddr);
	return false;
}

/* s parses, and to exactly its PT_LOAD headers with p_memsz > 0, in order. */
static bool accepts(const struct elf_spec *s)
{
	struct guest_image img;
	char why[256];
	unsigned n = 0;
	int err = parse_spec(s, &img, why);
	if (err)
		T_FAIL("ELF%d: %s: %s", s->is64 ? 64 : 32, err_name(err), why);
	T_ASSERT(img.kind == (s->is64 ? GUEST_IMAGE_ELF64 : GUEST_IMAGE_ELF32));
	T_ASSERT(img.entry == s->entry);
	for (unsigned i = 0; i < s->phnum; i++) {
		if (s->ph[i].type != PT_LOAD || !s->ph[i].memsz)
			continue;
		T_ASSERT(n < img.seg_count);
		T_CHECK(seg_is(&img.seg[n++], &s->ph[i]));
	}
	T_ASSERT(n == img.seg_count);
	return true;
}

static bool valid_elf32_and_elf64_parse(void)
{
	for (int is64 = 0; is64 < 2; is64++) {
		struct elf_spec s = valid_spec(is64);
		T_CHECK(accepts(&s));
	}
	return true;
}

/* Eight disjoint PT_LOADs at 64 KiB steps, the last one ending exactly at mem. */
static struct elf_spec eight_loads(bool is64)
{
	struct elf_spec s = valid_spec(is64);
	s.phnum = GUEST_IMAGE_SEG_MAX;
	s.size = 0x1000 + 0x100 * GUEST_IMAGE_SEG_MAX;
	for (unsigned i = 0; i < GUEST_IMAGE_SEG_MAX; i++) {
		uint64_t gpa = MEM - 0x10000 * (GUEST_IMAGE_SEG_MAX - i);
		s.ph[i] = (struct seg_spec){ PT_LOAD, PF_R | PF_X, 0x1000 + 0x100 * i, gpa, gpa,
					     0x100,   0x10000 };
	}
	s.entry = s.ph[3].paddr + 0xffff; /* last byte of a segment, in its bss */
	return s;
}

/* Limits that must still be accepted: they sit one step from a rejection. */
static bool edge_cases_accepted(void)
{
	for (int is64 = 0; is64 < 2; is64++) {
		struct elf_spec s = eight_loads(is64);
		T_CHECK(accepts(&s));
		s = valid_spec(is64); /* segments touching, the first at load_min exactly */
		s.ph[1].paddr = LOAD_MIN + 0x800;
		T_CHECK(accepts(&s));
		s = valid_spec(is64); /* an empty PT_LOAD loads nothing, and does not count */
		s.ph[2] = (struct seg_spec){ PT_LOAD, PF_R, 0x1c00, 0, 0, 0, 0 };
		T_CHECK(accepts(&s));
		s = valid_spec(is64); /* p_vaddr is not used for placement */
		s.ph[0].vaddr = 0xffffffff;
		T_CHECK(accepts(&s));
		s = valid_spec(is64); /* a segment with no file bytes (pure bss) */
		s.ph[1].filesz = 0;
		T_CHECK(accepts(&s));
	}
	return true;
}

/* ---- rejected images: one case per rule, for ELF32 and ELF64 ---- */

struct bad_case {
	const char *name;
	void (*edit)(struct elf_spec *s);
	int err;
	const char *needle; /* the reason must contain this (names the field) */
};

static uint64_t addr_max(const struct elf_spec *s)
{
	return s->is64 ? UINT64_MAX : UINT32_MAX;
}

/* Edits of the valid spec, one a line (they read as a table), in the tables' order. */
/* clang-format off */
/* header */
static void trunc_ident(struct elf_spec *s) { s->size = 6; }
static void trunc_header(struct elf_spec *s) { s->size = s->ehsize - 1; }
static void class_none(struct elf_spec *s) { s->ident_class = ELFCLASSNONE; }
static void class_3(struct elf_spec *s) { s->ident_class = 3; }
static void big_endian(struct elf_spec *s) { s->ident_data = ELFDATA2MSB; }
static void data_none(struct elf_spec *s) { s->ident_data = ELFDATANONE; }
static void ident_version_0(struct elf_spec *s) { s->ident_version = EV_NONE; }
static void version_2(struct elf_spec *s) { s->version = 2; }
static void machine_arm(struct elf_spec *s) { s->machine = EM_ARM; }
static void machine_swapped(struct elf_spec *s) { s->machine = s->is64 ? EM_386 : EM_X86_64; }
static void type_dyn(struct elf_spec *s) { s->type = ET_DYN; }
static void type_rel(struct elf_spec *s) { s->type = ET_REL; }
static void type_core(struct elf_spec *s) { s->type = ET_CORE; }
static void type_none(struct elf_spec *s) { s->type = ET_NONE; }
static void ehsize_big(struct elf_spec *s) { s->ehsize += 8; }
static void ehsize_small(struct elf_spec *s) { s->ehsize = 16; }
static void phentsize_small(struct elf_spec *s) { s->phentsize -= 4; }
static void phentsize_max(struct elf_spec *s) { s->phentsize = 0xffff, s->phnum = 0xffff; }
/* program header table */
static void phnum_0(struct elf_spec *s) { s->phnum = 0; }
static void phoff_at_end(struct elf_spec *s) { s->phoff = s->size; }
static void phoff_wraps(struct elf_spec *s) { s->phoff = addr_max(s) - 8; }
static void phnum_0xffff(struct elf_spec *s) { s->phnum = 0xffff; }
static void table_cut(struct elf_spec *s) { s->size = s->phoff + 4u * s->phentsize - 1; }
/* segments in the file */
static void filesz_gt_memsz(struct elf_spec *s) { s->ph[1].filesz = s->ph[1].memsz + 1; }
static void offset_beyond_file(struct elf_spec *s) { s->ph[0].off = s->size; }
static void offset_wraps(struct elf_spec *s) { s->ph[0].off = addr_max(s) - 0x10; }
static void filesz_beyond_file(struct elf_spec *s) { s->ph[1].filesz = s->size; }
static void file_cut_in_segment(struct elf_spec *s) { s->size = 0x1800 + 0x3ff; }
/* segments in guest RAM */
static void seg_beyond_mem(struct elf_spec *s) { s->ph[1].paddr = MEM - 0x1000; }
static void seg_wraps(struct elf_spec *s) { s->ph[1].memsz = addr_max(s) - 0x100; }
static void seg_above_mem(struct elf_spec *s) { s->ph[1].paddr = addr_max(s) - 0x1000; }
static void seg_below_min(struct elf_spec *s) { s->ph[1].paddr = LOAD_MIN - 0x1000; }
static void seg_paddr_0(struct elf_spec *s) { s->ph[1].paddr = 0; } /* p_vaddr stays valid */
static void seg_overlap(struct elf_spec *s) { s->ph[1].paddr = LOAD_MIN + 0x7ff; }
static void seg_in(struct elf_spec *s) { s->ph[1].paddr = LOAD_MIN + 4, s->ph[1].memsz = 0x400; }
static void seg_covers(struct elf_spec *s) { s->ph[1].paddr = LOAD_MIN; }
/* entry, dynamic linking, PT_LOAD count */
static void entry_outside(struct elf_spec *s) { s->entry = 0x300000; }
static void entry_at_text_end(struct elf_spec *s) { s->entry = LOAD_MIN + 0x800; }
static void entry_zero(struct elf_spec *s) { s->entry = 0; }
static void entry_in_data(struct elf_spec *s) { s->entry = LOAD_MIN + 0x2000; }
static void pt_interp(struct elf_spec *s) { s->ph[2].type = PT_INTERP; }
static void pt_dynamic(struct elf_spec *s) { s->ph[3].type = PT_DYNAMIC; }
static void interp_bad_load(struct elf_spec *s) { s->ph[3].type = PT_INTERP, s->ph[0].paddr = 0; }
static void no_load(struct elf_spec *s) { s->ph[0].type = PT_NOTE, s->ph[1].type = PT_NOTE; }
/* clang-format on */

static void empty_loads(struct elf_spec *s)
{
	s->ph[0] = (struct seg_spec){ .type = PT_LOAD, .flags = PF_R | PF_X, .off = 0x1000 };
	s->ph[1] = s->ph[0];
}

static void nine_loads(struct elf_spec *s)
{
	*s = eight_loads(s->is64);
	s->ph[GUEST_IMAGE_SEG_MAX] =
	    (struct seg_spec){ PT_LOAD, PF_R, 0x1000, LOAD_MIN, LOAD_MIN, 0x10, 0x10 };
	s->phnum++;
}

static const struct bad_case header_cases[] = {
	{ "truncated_e_ident", trunc_ident, -ENOEXEC, "e_ident" },
	{ "truncated_header", trunc_header, -ENOEXEC, "truncated header" },
	{ "class_none", class_none, -ENOEXEC, "EI_CLASS" },
	{ "class_3", class_3, -ENOEXEC, "EI_CLASS" },
	{ "big_endian", big_endian, -ENOTSUP, "big-endian" },
	{ "data_none", data_none, -ENOEXEC, "EI_DATA" },
	{ "ident_version_0", ident_version_0, -ENOEXEC, "EI_VERSION" },
	{ "e_version_2", version_2, -ENOEXEC, "e_version" },
	{ "machine_arm", machine_arm, -ENOTSUP, "e_machine" },
	{ "machine_of_the_other_class", machine_swapped, -ENOTSUP, "e_machine" },
	{ "et_dyn", type_dyn, -ENOTSUP, "ET_DYN" },
	{ "et_rel", type_rel, -ENOTSUP, "ET_REL" },
	{ "et_core", type_core, -ENOTSUP, "ET_CORE" },
	{ "et_none", type_none, -ENOEXEC, "e_type" },
	{ "ehsize_too_big", ehsize_big, -ENOEXEC, "e_ehsize" },
	{ "ehsize_too_small", ehsize_small, -ENOEXEC, "e_ehsize" },
	{ "phentsize_too_small", phentsize_small, -ENOEXEC, "e_phentsize" },
	{ "phentsize_and_phnum_0xffff", phentsize_max, -ENOEXEC, "e_phentsize" },
};

static const struct bad_case table_cases[] = {
	{ "phnum_0", phnum_0, -ENOEXEC, "e_phnum" },
	{ "phoff_at_end_of_file", phoff_at_end, -ENOEXEC, "e_phoff" },
	{ "phoff_plus_table_wraps", phoff_wraps, -ENOEXEC, "e_phoff" },
	{ "phnum_0xffff_table_beyond_file", phnum_0xffff, -ENOEXEC, "e_phoff" },
	{ "file_ends_inside_table", table_cut, -ENOEXEC, "e_phoff" },
};

static const struct bad_case file_cases[] = {
	{ "filesz_greater_than_memsz", filesz_gt_memsz, -ENOEXEC, "p_filesz" },
	{ "offset_at_end_of_file", offset_beyond_file, -ENOEXEC, "p_offset" },
	{ "offset_plus_filesz_wraps", offset_wraps, -ENOEXEC, "p_offset" },
	{ "filesz_beyond_file", filesz_beyond_file, -ENOEXEC, "p_filesz" },
	{ "file_ends_inside_segment", file_cut_in_segment, -ENOEXEC, "beyond the end of the file" },
};

static const struct bad_case place_cases[] = {
	{ "segment_ends_beyond_mem", seg_beyond_mem, -ERANGE, "beyond guest RAM" },
	{ "segment_paddr_plus_memsz_wraps", seg_wraps, -ERANGE, "p_memsz" },
	{ "segment_starts_above_mem", seg_above_mem, -ERANGE, "beyond guest RAM" },
	{ "segment_below_load_min", seg_below_min, -ERANGE, "p_paddr" },
	{ "segment_paddr_0_no_vaddr_fallback", seg_paddr_0, -ERANGE, "p_paddr 0x0" },
	{ "segments_overlap_by_one_byte", seg_overlap, -ENOEXEC, "overlap" },
	{ "segment_inside_another", seg_in, -ENOEXEC, "overlap" },
	{ "segment_covers_another", seg_covers, -ENOEXEC, "overlap" },
};

static const struct bad_case entry_cases[] = {
	{ "entry_outside_segments", entry_outside, -ENOEXEC, "e_entry" },
	{ "entry_one_past_text", entry_at_text_end, -ENOEXEC, "e_entry" },
	{ "entry_zero", entry_zero, -ENOEXEC, "e_entry" },
	{ "entry_in_non_executable_segment", entry_in_data, -ENOEXEC, "PF_X" },
	{ "pt_interp", pt_interp, -ENOTSUP, "dynamically linked" },
	{ "pt_dynamic", pt_dynamic, -ENOTSUP, "dynamically linked" },
	{ "pt_interp_reported_before_load_errors", interp_bad_load, -ENOTSUP, "PT_INTERP" },
	{ "no_pt_load", no_load, -ENOEXEC, "PT_LOAD" },
	{ "only_empty_pt_loads", empty_loads, -ENOEXEC, "PT_LOAD" },
	{ "nine_pt_loads", nine_loads, -ENOTSUP, "more than 8" },
};

/* Each case, for ELF32 and ELF64, gives its errno and a reason containing its needle. */
static bool rejects_all(const struct bad_case *cases, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		for (int is64 = 0; is64 < 2; is64++) {
			struct elf_spec s = valid_spec(is64);
			struct guest_image img;
			char why[256];
			cases[i].edit(&s);
			int err = parse_spec(&s, &img, why);
			if (!fake_quiet)
				printf("# ELF%d %s: %s %s\n", is64 ? 64 : 32, cases[i].name,
				       err_name(err), why);
			if (err != cases[i].err || !strstr(why, cases[i].needle))
				T_FAIL("ELF%d %s: got %s \"%s\", expected %s with \"%s\"",
				       is64 ? 64 : 32, cases[i].name, err_name(err), why,
				       err_name(cases[i].err), cases[i].needle);
		}
	}
	return true;
}

static bool bad_headers_rejected(void)
{
	return rejects_all(header_cases, ARRAY_SIZE(header_cases));
}

static bool bad_program_header_tables_rejected(void)
{
	return rejects_all(table_cases, ARRAY_SIZE(table_cases));
}

static bool segments_outside_the_file_rejected(void)
{
	return rejects_all(file_cases, ARRAY_SIZE(file_cases));
}

static bool segments_outside_ram_or_overlapping_rejected(void)
{
	return rejects_all(place_cases, ARRAY_SIZE(place_cases));
}

static bool bad_entry_dynamic_and_load_count_rejected(void)
{
	return rejects_all(entry_cases, ARRAY_SIZE(entry_cases));
}

/* ---- flat images and the API around them ---- */

/* Anything whose first 4 bytes are not exactly "\x7fELF" is flat. */
static bool flat_unless_elf_magic(void)
{
	static const char *const flats[] = { "\x7f",
					     "\x7f"
					     "E",
					     "\x7f"
					     "EL",
					     "\x7e"
					     "ELF....",
					     "\x7f"
					     "ELG....",
					     "\x7f"
					     "elf....",
					     "ELF\x7f...",
					     "\x90\xf4" };
	for (size_t i = 0; i < ARRAY_SIZE(flats); i++) {
		struct guest_image img;
		char why[128];
		size_t len = strlen(flats[i]);
		int err = parse(flats[i], len, &lay, &img, why, sizeof(why));
		T_ASSERT(err == 0);
		T_ASSERT(img.kind == GUEST_IMAGE_FLAT && img.entry == LOAD_MIN);
		T_ASSERT(img.seg_count == 1 && img.seg[0].gpa.v == LOAD_MIN);
		T_ASSERT(img.seg[0].file_off == 0 && img.seg[0].file_size == len);
		T_ASSERT(img.seg[0].mem_size == len && img.seg[0].flags == 7);
	}
	return true;
}

/* A file that starts with the magic is judged as ELF, however short. */
static bool elf_magic_then_truncated_is_an_elf_error(void)
{
	for (size_t len = 4; len < sizeof(Elf64_Ehdr); len++) {
		struct elf_spec s = valid_spec(true);
		struct guest_image img;
		char why[256];
		s.size = len;
		T_ASSERT(parse_spec(&s, &img, why) == -ENOEXEC);
		T_ASSERT(!strncmp(why, "ELF: ", 5));
	}
	return true;
}

static bool flat_placement_checked(void)
{
	struct guest_image_layout l = { .flat_gpa = 0x100000,
					.load_min = 0x100000,
					.mem = 0x101000 };
	static uint8_t bytes[0x1001];
	struct guest_image img;
	char why[128];
	T_ASSERT(parse(bytes, 0x1000, &l, &img, why, sizeof(why)) == 0); /* fits exactly */
	T_ASSERT(parse(bytes, 0x1001, &l, &img, why, sizeof(why)) == -ERANGE);
	T_ASSERT(strstr(why, "flat image ends beyond guest RAM"));
	T_ASSERT(parse(bytes, 0, &l, &img, why, sizeof(why)) == -EINVAL);
	T_ASSERT(strstr(why, "empty"));
	l.flat_gpa = 0xff000;
	T_ASSERT(parse(bytes, 0x10, &l, &img, why, sizeof(why)) == -ERANGE);
	T_ASSERT(strstr(why, "below"));
	l = (struct guest_image_layout){ UINT64_MAX - 2, 0, UINT64_MAX, 0, 0 };
	T_ASSERT(parse(bytes, 0x10, &l, &img, why, sizeof(why)) == -ERANGE); /* would wrap */
	l = (struct guest_image_layout){ 0x100000, 0x200000, 0x100000, 0, 0 };
	T_ASSERT(parse(bytes, 0x10, &l, &img, why, sizeof(why)) == -EINVAL);
	T_ASSERT(strstr(why, "load_min"));
	return true;
}

static bool reason_buffer_optional_and_truncated(void)
{
	struct elf_spec s = valid_spec(true);
	static uint8_t buf[BUF_CAP];
	struct guest_image img;
	char why[8];
	s.type = ET_DYN;
	build_elf(&s, buf);
	T_ASSERT(parse(buf, s.size, &lay, &img, NULL, 100) == -ENOTSUP);
	memset(why, 'x', sizeof(why));
	T_ASSERT(parse(buf, s.size, &lay, &img, why, 0) == -ENOTSUP);
	T_ASSERT(why[0] == 'x'); /* why_len 0: not touched */
	T_ASSERT(parse(buf, s.size, &lay, &img, why, sizeof(why)) == -ENOTSUP);
	T_ASSERT(!strcmp(why, "ELF: e_"));
	s = valid_spec(true); /* success clears the reason */
	build_elf(&s, buf);
	T_ASSERT(parse(buf, s.size, &lay, &img, why, sizeof(why)) == 0 && why[0] == '\0');
	return true;
}

static bool kind_names(void)
{
	T_ASSERT(!strcmp(guest_image_kind_str(GUEST_IMAGE_FLAT), "flat"));
	T_ASSERT(!strcmp(guest_image_kind_str(GUEST_IMAGE_ELF32), "ELF32"));
	T_ASSERT(!strcmp(guest_image_kind_str(GUEST_IMAGE_ELF64), "ELF64"));
	T_ASSERT(!strcmp(guest_image_kind_str((enum guest_image_kind)7), "?"));
	return true;
}

/* ---- real executables from the host's assembler and linker (see the Makefile) ---- */

/* Their _start is `mov $0x1234abcd, %eax; hlt`, and they have .data and a .bss. */
static bool real_elf_parses(const char *path, enum guest_image_kind kind)
{
	static const uint8_t start[] = { 0xb8, 0xcd, 0xab, 0x34, 0x12, 0xf4 };
	static uint8_t buf[1 << 16];
	struct guest_image_layout l = { 0, LOAD_MIN, MiB(16), 0, 0 };
	struct guest_image img;
	char why[256];
	bool has_bss = false;
	FILE *f = fopen(path, "rb");
	if (!f)
		T_FAIL("cannot open %s", path);
	size_t size = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	int err = parse(buf, size, &l, &img, why, sizeof(why));
	if (err)
		T_FAIL("%s: %s %s", path, err_name(err), why);
	T_ASSERT(img.kind == kind);
	for (unsigned i = 0; i < img.seg_count; i++) {
		const struct guest_image_seg *g = &img.seg[i];
		has_bss |= g->file_size < g->mem_size;
		if (img.entry >= g->gpa.v && img.entry - g->gpa.v < g->file_size)
			T_ASSERT(!memcmp(buf + g->file_off + (img.entry - g->gpa.v), start,
					 sizeof(start)));
	}
	T_ASSERT(has_bss);
	return true;
}

static bool real_elf32_from_ld(void)
{
	return real_elf_parses(IMAGE_ELF_DIR "/real32.elf", GUEST_IMAGE_ELF32);
}

static bool real_elf64_from_ld(void)
{
	return real_elf_parses(IMAGE_ELF_DIR "/real64.elf", GUEST_IMAGE_ELF64);
}

/* ---- random mutations ---- */

/* What an accepted image promises (image.h), checked independently. NULL if it holds. */
static const char *broken_promise(const uint8_t *data, size_t size, const struct guest_image *img)
{
	bool elf = size >= 4 && !memcmp(data, ELFMAG, 4), entry_ok = false;
	if (elf == (img->kind == GUEST_IMAGE_FLAT))
		return "kind does not follow the magic";
	if (img->seg_count < 1 || img->seg_count > GUEST_IMAGE_SEG_MAX)
		return "segment count";
	for (unsigned i = 0; i < img->seg_count; i++) {
		const struct guest_image_seg *a = &img->seg[i];
		if (!a->mem_size || a->file_size > a->mem_size)
			return "sizes";
		if (a->file_off > size || a->file_size > size - a->file_off)
			return "file range outside the image";
		if (a->gpa.v < LOAD_MIN || a->gpa.v > MEM || a->mem_size > MEM - a->gpa.v)
			return "segment outside [load_min, mem)";
		for (unsigned j = 0; j < i; j++)
			if (a->gpa.v < img->seg[j].gpa.v + img->seg[j].mem_size &&
			    img->seg[j].gpa.v < a->gpa.v + a->mem_size)
				return "segments overlap";
		if (img->entry >= a->gpa.v && img->entry - a->gpa.v < a->mem_size)
			entry_ok = a->flags & GUEST_IMAGE_X;
	}
	return entry_ok ? NULL : "entry not in an executable segment";
}

/* Big values that sit on the parser's boundaries, for 2-, 4- and 8-byte fields. */
static uint64_t interesting(uint64_t r)
{
	static const uint64_t v[] = { 0,	  1,
				      0x7f,	  0xff,
				      0xffff,	  0xffffffff,
				      UINT64_MAX, LOAD_MIN - 1,
				      LOAD_MIN,	  MEM - 1,
				      MEM,	  0x1c20,
				      0x1c1f,	  (uint64_t)1 << 63,
				      56,	  32,
				      64,	  52 };
	return v[r % ARRAY_SIZE(v)];
}

/* One to four random edits of buf[0, *size): bit flips, bytes, boundary values, cuts. */
static void mutate(uint8_t *buf, size_t *size)
{
	unsigned edits = 1 + (unsigned)(fake_rng_next() % 4);
	for (unsigned e = 0; e < edits && *size; e++) {
		uint64_t r = fake_rng_next();
		/* three in four land in the headers, where the decisions are */
		size_t span = (r & 3) ? MIN(*size, (size_t)0x180) : *size;
		size_t at = (size_t)((r >> 8) % span);
		unsigned width = 1u << ((r >> 40) % 4);
		switch ((r >> 2) % 4) {
		case 0:
			buf[at] ^= (uint8_t)(1u << ((r >> 32) % 8));
			break;
		case 1:
			buf[at] = (uint8_t)(r >> 48);
			break;
		case 2: {
			uint64_t v = interesting(r >> 44);
			for (unsigned b = 0; b < width && at + b < *size; b++)
				buf[at + b] = (uint8_t)(v >> (8 * b));
			break;
		}
		default:
			*size = (size_t)((r >> 8) % (*size + 1));
		}
	}
}

#define FUZZ_ROUNDS 100000u

static bool random_mutations_keep_promises(void)
{
	static uint8_t seeds[3][BUF_CAP], buf[BUF_CAP];
	size_t seed_size[3];
	struct elf_spec specs[3] = { valid_spec(false), valid_spec(true), eight_loads(true) };
	unsigned accepted = 0, accepted_elf = 0, rejected = 0;
	fake_rng_state = 0x1badb002;
	for (int i = 0; i < 3; i++) {
		build_elf(&specs[i], seeds[i]);
		seed_size[i] = specs[i].size;
	}
	for (unsigned n = 0; n < FUZZ_ROUNDS; n++) {
		unsigned k = n % 3;
		size_t size = seed_size[k];
		struct guest_image img;
		char why[96];
		memcpy(buf, seeds[k], size);
		mutate(buf, &size);
		int err = parse(buf, size, &lay, &img, why, sizeof(why));
		const char *broken = err ? NULL : broken_promise(buf, size, &img);
		if (broken)
			T_FAIL("round %u: accepted, but %s", n, broken);
		if (err && (!why[0] || !strcmp(err_name(err), "unexpected errno")))
			T_FAIL("round %u: %s with reason \"%s\"", n, err_name(err), why);
		accepted += !err;
		accepted_elf += !err && img.kind != GUEST_IMAGE_FLAT;
		rejected += err != 0;
	}
	if (!fake_quiet)
		printf("# %u rounds: %u accepted (%u ELF), %u rejected\n", FUZZ_ROUNDS, accepted,
		       accepted_elf, rejected);
	/* both outcomes must be common, or the loop tested little */
	T_ASSERT(accepted_elf > FUZZ_ROUNDS / 100 && rejected > FUZZ_ROUNDS / 4);
	return true;
}

static const struct fake_test tests[] = {
	{ "valid_elf32_and_elf64_parse", valid_elf32_and_elf64_parse },
	{ "edge_cases_accepted", edge_cases_accepted },
	{ "bad_headers_rejected", bad_headers_rejected },
	{ "bad_program_header_tables_rejected", bad_program_header_tables_rejected },
	{ "segments_outside_the_file_rejected", segments_outside_the_file_rejected },
	{ "segments_outside_ram_or_overlapping_rejected",
	  segments_outside_ram_or_overlapping_rejected },
	{ "bad_entry_dynamic_and_load_count_rejected", bad_entry_dynamic_and_load_count_rejected },
	{ "flat_unless_elf_magic", flat_unless_elf_magic },
	{ "elf_magic_then_truncated_is_an_elf_error", elf_magic_then_truncated_is_an_elf_error },
	{ "flat_placement_checked", flat_placement_checked },
	{ "reason_buffer_optional_and_truncated", reason_buffer_optional_and_truncated },
	{ "kind_names", kind_names },
	{ "real_elf32_from_ld", real_elf32_from_ld },
	{ "real_elf64_from_ld", real_elf64_from_ld },
	{ "random_mutations_keep_promises", random_mutations_keep_promises },
};

int main(int argc, char **argv)
{
	return fake_run_tests(tests, ARRAY_SIZE(tests), argc, argv, NULL);
}
