/*
 * Guest image parser: flat binaries and static x86 ELF32/ELF64 executables (see image.h
 * for the contract). Reads the bytes field by field in little-endian order, so it needs
 * no alignment and no packed structs, and does every offset/size sum so that it cannot
 * wrap: an untrusted module can only get a reason string back.
 *
 * Addresses: Keel enters a guest with paging (if any) identity-mapping its RAM, so a
 * segment is loaded at p_paddr and e_entry is taken as a guest-physical address. There is
 * no p_vaddr fallback for p_paddr == 0: GNU ld and lld set p_paddr = p_vaddr unless a
 * linker script asks otherwise (AT()), so p_paddr always says what the author meant, and
 * 0 is below load_min anyway.
 * Facts from the System V gABI (ELF header, program header) and the i386/x86-64 psABIs.
 */
#include <keel/errno.h>
#include <keel/printk.h>
#include <keel/string.h>
#include <stdarg.h>

#include "image.h"
#include "multiboot.h"

#define ELF_MAGIC "\177ELF"
#define ELF_EI_CLASS 4
#define ELF_EI_DATA 5
#define ELF_EI_VERSION 6
#define ELF_CLASS32 1
#define ELF_CLASS64 2
#define ELF_DATA_LSB 1
#define ELF_DATA_MSB 2
#define ELF_VERSION_CURRENT 1
#define ELF_ET_REL 1
#define ELF_ET_EXEC 2
#define ELF_ET_DYN 3
#define ELF_ET_CORE 4
#define ELF_EM_386 3
#define ELF_EM_X86_64 62
#define ELF_PT_LOAD 1
#define ELF_PT_DYNAMIC 2
#define ELF_PT_INTERP 3

/* Where each field we read sits in the ELF32 and ELF64 headers (byte offsets). */
struct elf_class {
	enum guest_image_kind kind;
	const char *name;
	uint16_t machine;
	const char *machine_name;
	uint8_t ehdr_size, phdr_size, addr; /* addr: width of addresses and offsets */
	uint8_t e_entry, e_phoff, e_ehsize; /* e_phentsize and e_phnum follow e_ehsize */
	uint8_t p_flags, p_offset, p_paddr, p_filesz, p_memsz;
};

static const struct elf_class elf32_class = {
	.kind = GUEST_IMAGE_ELF32,
	.name = "ELF32",
	.machine = ELF_EM_386,
	.machine_name = "EM_386",
	.ehdr_size = 52,
	.phdr_size = 32,
	.addr = 4,
	.e_entry = 24,
	.e_phoff = 28,
	.e_ehsize = 40,
	.p_flags = 24,
	.p_offset = 4,
	.p_paddr = 12,
	.p_filesz = 16,
	.p_memsz = 20,
};
static const struct elf_class elf64_class = {
	.kind = GUEST_IMAGE_ELF64,
	.name = "ELF64",
	.machine = ELF_EM_X86_64,
	.machine_name = "EM_X86_64",
	.ehdr_size = 64,
	.phdr_size = 56,
	.addr = 8,
	.e_entry = 24,
	.e_phoff = 32,
	.e_ehsize = 52,
	.p_flags = 4,
	.p_offset = 8,
	.p_paddr = 24,
	.p_filesz = 32,
	.p_memsz = 40,
};

/* The header fields that matter, decoded. */
struct elf_ehdr {
	uint16_t type, machine, ehsize, phentsize, phnum;
	uint32_t version;
	uint64_t entry, phoff;
};

struct elf_phdr {
	uint32_t type, flags;
	uint64_t offset, paddr, filesz, memsz;
};

struct image_ctx {
	const uint8_t *p;
	uint64_t size;
	const struct guest_image_layout *lay;
	const struct elf_class *cls;
	char *why;
	size_t why_len;
};

__printf(3, 4) static int image_fail(struct image_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;
	if (!c->why_len)
		return err;
	va_start(ap, fmt);
	vsnprintf(c->why, c->why_len, fmt, ap);
	va_end(ap);
	return err;
}

/* Little-endian unsigned of width bytes at p (the caller has checked the bounds). */
static uint64_t rd(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;
	for (unsigned i = width; i--;)
		v = v << 8 | p[i];
	return v;
}

/* True if [off, off + len) lies inside [0, size), without wrapping. */
static bool range_inside(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static bool ranges_overlap(const struct guest_image_seg *a, const struct guest_image_seg *b)
{
	return a->gpa.v < b->gpa.v + b->mem_size && b->gpa.v < a->gpa.v + a->mem_size;
}

/*
 * Checks that [gpa, gpa + len) lies inside [load_min, mem) and outside [hole_lo,
 * hole_hi). what names the piece, base/len_name the fields the numbers come from.
 * Returns 0 or -ERANGE.
 */
static int image_check_place(struct image_ctx *c, const char *what, const char *base_name,
			     const char *len_name, uint64_t gpa, uint64_t len)
{
	const struct guest_image_layout *lay = c->lay;
	if (gpa < lay->load_min)
		return image_fail(
		    c, -ERANGE, "%s starts below the lowest load address (%s 0x%llx < 0x%llx)",
		    what, base_name, (unsigned long long)gpa, (unsigned long long)lay->load_min);
	if (!range_inside(gpa, len, lay->mem))
		return image_fail(c, -ERANGE,
				  "%s ends beyond guest RAM (%s 0x%llx + %s 0x%llx > mem 0x%llx)",
				  what, base_name, (unsigned long long)gpa, len_name,
				  (unsigned long long)len, (unsigned long long)lay->mem);
	if (gpa < lay->hole_hi && lay->hole_lo < gpa + len)
		return image_fail(c, -ERANGE,
				  "%s overlaps [0x%llx, 0x%llx), which Keel keeps (%s 0x%llx, %s "
				  "0x%llx)",
				  what, (unsigned long long)lay->hole_lo,
				  (unsigned long long)lay->hole_hi, base_name,
				  (unsigned long long)gpa, len_name, (unsigned long long)len);
	return 0;
}

static int image_parse_flat(struct image_ctx *c, struct guest_image *out)
{
	int err =
	    image_check_place(c, "flat image", "load address", "size", c->lay->flat_gpa, c->size);
	if (err)
		return err;
	out->kind = GUEST_IMAGE_FLAT;
	out->entry = c->lay->flat_gpa;
	out->seg_count = 1;
	out->seg[0] = (struct guest_image_seg){
		.gpa = GPA(c->lay->flat_gpa),
		.file_size = c->size,
		.mem_size = c->size,
		.flags = GUEST_IMAGE_R | GUEST_IMAGE_W | GUEST_IMAGE_X,
	};
	return 0;
}

/* e_ident: picks c->cls and checks the header fits. Returns 0, -ENOEXEC or -ENOTSUP. */
static int elf_check_ident(struct image_ctx *c)
{
	if (c->size <= ELF_EI_VERSION)
		return image_fail(c, -ENOEXEC, "ELF: truncated e_ident (%llu bytes)",
				  (unsigned long long)c->size);
	uint8_t class = c->p[ELF_EI_CLASS], data = c->p[ELF_EI_DATA];
	if (class == ELF_CLASS32)
		c->cls = &elf32_class;
	else if (class == ELF_CLASS64)
		c->cls = &elf64_class;
	else
		return image_fail(c, -ENOEXEC, "ELF: bad EI_CLASS %u (1 = ELF32, 2 = ELF64)",
				  class);
	if (c->size < c->cls->ehdr_size)
		return image_fail(c, -ENOEXEC, "ELF: truncated header (%llu bytes, %s needs %u)",
				  (unsigned long long)c->size, c->cls->name, c->cls->ehdr_size);
	if (data == ELF_DATA_MSB)
		return image_fail(c, -ENOTSUP,
				  "ELF: EI_DATA is big-endian; x86 images are little-endian");
	if (data != ELF_DATA_LSB)
		return image_fail(c, -ENOEXEC, "ELF: bad EI_DATA %u (1 = little-endian)", data);
	if (c->p[ELF_EI_VERSION] != ELF_VERSION_CURRENT)
		return image_fail(c, -ENOEXEC, "ELF: bad EI_VERSION %u (expected 1)",
				  c->p[ELF_EI_VERSION]);
	return 0;
}

static void elf_read_ehdr(const struct image_ctx *c, struct elf_ehdr *h)
{
	const struct elf_class *k = c->cls;
	h->type = (uint16_t)rd(c->p + 16, 2);
	h->machine = (uint16_t)rd(c->p + 18, 2);
	h->version = (uint32_t)rd(c->p + 20, 4);
	h->entry = rd(c->p + k->e_entry, k->addr);
	h->phoff = rd(c->p + k->e_phoff, k->addr);
	h->ehsize = (uint16_t)rd(c->p + k->e_ehsize, 2);
	h->phentsize = (uint16_t)rd(c->p + k->e_ehsize + 2, 2);
	h->phnum = (uint16_t)rd(c->p + k->e_ehsize + 4, 2);
}

static int elf_check_type(struct image_ctx *c, uint16_t type)
{
	switch (type) {
	case ELF_ET_EXEC:
		return 0;
	case ELF_ET_DYN:
		return image_fail(c, -ENOTSUP,
				  "ELF: e_type is ET_DYN (shared object or PIE); "
				  "only static ET_EXEC executables are supported");
	case ELF_ET_REL:
		return image_fail(c, -ENOTSUP,
				  "ELF: e_type is ET_REL (an unlinked object file); "
				  "only static ET_EXEC executables are supported");
	case ELF_ET_CORE:
		return image_fail(c, -ENOTSUP, "ELF: e_type is ET_CORE (a core dump), not ET_EXEC");
	default:
		return image_fail(c, -ENOEXEC, "ELF: bad e_type %u (expected ET_EXEC)", type);
	}
}

/* The header after e_ident, and where the program header table lies. */
static int elf_check_ehdr(struct image_ctx *c, const struct elf_ehdr *h)
{
	const struct elf_class *k = c->cls;
	int err = elf_check_type(c, h->type);
	if (err)
		return err;
	if (h->machine != k->machine)
		return image_fail(c, -ENOTSUP,
				  "ELF: e_machine %u is not %s (%u), the only machine for %s",
				  h->machine, k->machine_name, k->machine, k->name);
	if (h->version != ELF_VERSION_CURRENT)
		return image_fail(c, -ENOEXEC, "ELF: bad e_version %u (expected 1)", h->version);
	if (h->ehsize != k->ehdr_size)
		return image_fail(c, -ENOEXEC,
				  "ELF: e_ehsize %u is not the %u bytes of an %s header", h->ehsize,
				  k->ehdr_size, k->name);
	if (h->phentsize != k->phdr_size)
		return image_fail(c, -ENOEXEC,
				  "ELF: e_phentsize %u is not the %u bytes of an %s program header",
				  h->phentsize, k->phdr_size, k->name);
	if (!h->phnum)
		return image_fail(c, -ENOEXEC, "ELF: no program headers (e_phnum 0)");
	uint64_t table = (uint64_t)h->phnum * h->phentsize;
	if (!range_inside(h->phoff, table, c->size))
		return image_fail(c, -ENOEXEC,
				  "ELF: program header table (e_phoff 0x%llx + %u * %u bytes) "
				  "beyond the end of the file (0x%llx bytes)",
				  (unsigned long long)h->phoff, h->phnum, h->phentsize,
				  (unsigned long long)c->size);
	return 0;
}

static void elf_read_phdr(const struct image_ctx *c, const struct elf_ehdr *h, unsigned i,
			  struct elf_phdr *ph)
{
	const struct elf_class *k = c->cls;
	const uint8_t *p = c->p + h->phoff + (uint64_t)i * h->phentsize;
	ph->type = (uint32_t)rd(p, 4);
	ph->flags = (uint32_t)rd(p + k->p_flags, 4);
	ph->offset = rd(p + k->p_offset, k->addr);
	ph->paddr = rd(p + k->p_paddr, k->addr);
	ph->filesz = rd(p + k->p_filesz, k->addr);
	ph->memsz = rd(p + k->p_memsz, k->addr);
}

/* Rejects dynamically linked images before any PT_LOAD complaint would hide why. */
static int elf_check_static(struct image_ctx *c, const struct elf_ehdr *h)
{
	for (unsigned i = 0; i < h->phnum; i++) {
		struct elf_phdr ph;
		elf_read_phdr(c, h, i, &ph);
		if (ph.type == ELF_PT_INTERP || ph.type == ELF_PT_DYNAMIC)
			return image_fail(
			    c, -ENOTSUP,
			    "ELF: segment %u is %s: dynamically linked images are not "
			    "supported",
			    i, ph.type == ELF_PT_INTERP ? "PT_INTERP" : "PT_DYNAMIC");
	}
	return 0;
}

/*
 * Adds PT_LOAD program header i to out (ph_of[] maps out's segments back to program
 * header numbers for messages). Returns 0 or a negative errno with the reason.
 */
static int elf_add_load(struct image_ctx *c, unsigned i, const struct elf_phdr *ph,
			struct guest_image *out, unsigned *ph_of)
{
	if (ph->filesz > ph->memsz)
		return image_fail(c, -ENOEXEC,
				  "ELF: segment %u has p_filesz 0x%llx > p_memsz 0x%llx", i,
				  (unsigned long long)ph->filesz, (unsigned long long)ph->memsz);
	if (!range_inside(ph->offset, ph->filesz, c->size))
		return image_fail(c, -ENOEXEC,
				  "ELF: segment %u (p_offset 0x%llx + p_filesz 0x%llx) beyond the "
				  "end of the file (0x%llx bytes)",
				  i, (unsigned long long)ph->offset, (unsigned long long)ph->filesz,
				  (unsigned long long)c->size);
	if (!ph->memsz)
		return 0; /* loads nothing */
	if (out->seg_count == GUEST_IMAGE_SEG_MAX)
		return image_fail(c, -ENOTSUP, "ELF: more than %u PT_LOAD segments (segment %u)",
				  GUEST_IMAGE_SEG_MAX, i);
	char what[32];
	snprintf(what, sizeof(what), "ELF: segment %u", i);
	int err = image_check_place(c, what, "p_paddr", "p_memsz", ph->paddr, ph->memsz);
	if (err)
		return err;
	struct guest_image_seg s = {
		.gpa = GPA(ph->paddr),
		.file_off = ph->offset,
		.file_size = ph->filesz,
		.mem_size = ph->memsz,
		.flags = ph->flags & (GUEST_IMAGE_R | GUEST_IMAGE_W | GUEST_IMAGE_X),
	};
	for (unsigned j = 0; j < out->seg_count; j++)
		if (ranges_overlap(&s, &out->seg[j]))
			return image_fail(c, -ENOEXEC,
					  "ELF: segments %u and %u overlap in guest RAM "
					  "(p_paddr 0x%llx and 0x%llx)",
					  ph_of[j], i, (unsigned long long)out->seg[j].gpa.v,
					  (unsigned long long)s.gpa.v);
	ph_of[out->seg_count] = i;
	out->seg[out->seg_count++] = s;
	return 0;
}

static int elf_check_entry(struct image_ctx *c, const struct guest_image *out,
			   const unsigned *ph_of)
{
	for (unsigned j = 0; j < out->seg_count; j++) {
		const struct guest_image_seg *s = &out->seg[j];
		if (out->entry < s->gpa.v || out->entry - s->gpa.v >= s->mem_size)
			continue;
		if (!(s->flags & GUEST_IMAGE_X))
			return image_fail(c, -ENOEXEC,
					  "ELF: e_entry 0x%llx is in segment %u, which is not "
					  "executable (no PF_X)",
					  (unsigned long long)out->entry, ph_of[j]);
		return 0;
	}
	return image_fail(c, -ENOEXEC, "ELF: e_entry 0x%llx is not inside any PT_LOAD segment",
			  (unsigned long long)out->entry);
}

static int image_parse_elf(struct image_ctx *c, struct guest_image *out)
{
	struct elf_ehdr h;
	unsigned ph_of[GUEST_IMAGE_SEG_MAX];
	int err = elf_check_ident(c);
	if (err)
		return err;
	elf_read_ehdr(c, &h);
	err = elf_check_ehdr(c, &h);
	if (!err)
		err = elf_check_static(c, &h);
	if (err)
		return err;
	out->kind = c->cls->kind;
	out->entry = h.entry;
	out->seg_count = 0;
	for (unsigned i = 0; i < h.phnum; i++) {
		struct elf_phdr ph;
		elf_read_phdr(c, &h, i, &ph);
		if (ph.type != ELF_PT_LOAD)
			continue; /* notes, GNU_STACK, PHDR, TLS...: nothing to load */
		err = elf_add_load(c, i, &ph, out, ph_of);
		if (err)
			return err;
	}
	if (!out->seg_count)
		return image_fail(c, -ENOEXEC, "ELF: no PT_LOAD segment with p_memsz > 0");
	return elf_check_entry(c, out, ph_of);
}

/* The context of one parse; -EINVAL for a bad layout or an empty image. */
static int image_start(struct image_ctx *c, const void *data, uint64_t size,
		       const struct guest_image_layout *lay, char *why, size_t why_len)
{
	*c = (struct image_ctx){
		.p = data,
		.size = size,
		.lay = lay,
		.why = why,
		.why_len = why ? why_len : 0,
	};
	if (c->why_len)
		why[0] = '\0';
	if (lay->load_min > lay->mem)
		return image_fail(c, -EINVAL, "layout: load_min 0x%llx above mem 0x%llx",
				  (unsigned long long)lay->load_min, (unsigned long long)lay->mem);
	if (!size)
		return image_fail(c, -EINVAL, "image is empty");
	return 0;
}

int guest_image_parse(const void *data, uint64_t size, const struct guest_image_layout *lay,
		      struct guest_image *out, char *why, size_t why_len)
{
	struct image_ctx c;
	int err = image_start(&c, data, size, lay, why, why_len);
	if (err)
		return err;
	out->multiboot = false;
	if (size >= 4 && !memcmp(data, ELF_MAGIC, 4))
		return image_parse_elf(&c, out);
	return image_parse_flat(&c, out);
}

/* The address fields' reading of the image (3.1.3), checked so nothing wraps. */
static int mb_parse_aout(struct image_ctx *c, const struct mb_header *h, struct guest_image *out)
{
	uint64_t back = (uint64_t)h->header_addr - h->load_addr, load, mem;
	if (h->header_addr < h->load_addr || back > h->offset)
		return image_fail(c, -ENOEXEC,
				  "Multiboot: load_addr 0x%x is after header_addr 0x%x or before "
				  "the file's start",
				  h->load_addr, h->header_addr);
	uint64_t text = h->offset - back;
	load = h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr : c->size - text;
	if (h->load_end_addr &&
	    (h->load_end_addr < h->load_addr || !range_inside(text, load, c->size)))
		return image_fail(c, -ENOEXEC,
				  "Multiboot: load_end_addr 0x%x is before load_addr or beyond "
				  "the file",
				  h->load_end_addr);
	mem = h->bss_end_addr ? (uint64_t)h->bss_end_addr - h->load_addr : load;
	if (h->bss_end_addr && mem < load)
		return image_fail(c, -ENOEXEC,
				  "Multiboot: bss_end_addr 0x%x is before load_end_addr",
				  h->bss_end_addr);
	if (!mem || h->entry_addr < h->load_addr || h->entry_addr - h->load_addr >= mem)
		return image_fail(c, -ENOEXEC,
				  "Multiboot: entry_addr 0x%x is not inside the loaded image",
				  h->entry_addr);
	out->kind = GUEST_IMAGE_MB_AOUT;
	out->entry = h->entry_addr;
	out->seg_count = 1;
	out->seg[0] =
	    (struct guest_image_seg){ .gpa = GPA(h->load_addr),
				      .file_off = text,
				      .file_size = load,
				      .mem_size = mem,
				      .flags = GUEST_IMAGE_R | GUEST_IMAGE_W | GUEST_IMAGE_X };
	return image_check_place(c, "Multiboot image", "load_addr", "size", h->load_addr, mem);
}

int guest_image_parse_multiboot(const void *data, uint64_t size, const struct mb_header *h,
				const struct guest_image_layout *lay, struct guest_image *out,
				char *why, size_t why_len)
{
	struct image_ctx c;
	int err = image_start(&c, data, size, lay, why, why_len);
	if (err)
		return err;
	out->multiboot = true;
	if (h->flags & MB_HF_AOUT_KLUDGE)
		return mb_parse_aout(&c, h, out);
	if (size < 4 || memcmp(data, ELF_MAGIC, 4))
		return image_fail(&c, -ENOEXEC,
				  "Multiboot: no address fields (flag 16) and not an ELF file");
	if (size > ELF_EI_CLASS && c.p[ELF_EI_CLASS] == ELF_CLASS64)
		return image_fail(&c, -ENOTSUP,
				  "Multiboot: an ELF64 kernel needs the a.out-kludge address "
				  "fields (QEMU refuses it too); ship it as ELF32");
	return image_parse_elf(&c, out);
}

const char *guest_image_kind_str(enum guest_image_kind kind)
{
	switch (kind) {
	case GUEST_IMAGE_FLAT:
		return "flat";
	case GUEST_IMAGE_ELF32:
		return "ELF32";
	case GUEST_IMAGE_ELF64:
		return "ELF64";
	case GUEST_IMAGE_MB_AOUT:
		return "Multiboot a.out-kludge";
	}
	return "?";
}
