/*
 * Guest RAM (guest_mem.h): the EPT vm_space, writes by guest-physical address, Keel's
 * tables, image loading, eager population and giving pages back. Knows the layout
 * (layout.h) and the image format's result (image.h), nothing of vCPUs or exits.
 */
#include <keel/errno.h>
#include <keel/string.h>

#include "guest_mem.h"
#include "layout.h"

int guest_mem_init(struct guest *g)
{
	int err = vm_space_init(&g->space, VM_SPACE_GUEST_EPT, 0);
	if (err)
		return err;
	err = vm_space_add_demand_region_gpa(&g->space, GPA(0), g->mem, PT_PROP(PT_PROP_RWX));
	if (err)
		vm_space_fini(&g->space);
	return err;
}

void guest_mem_fini(struct guest *g)
{
	vm_space_fini(&g->space);
}

int guest_mem_write(struct guest *g, gpa_t gpa, const void *src, uint64_t len)
{
	static const uint8_t zeros[4096];
	while (len) {
		uint64_t chunk = MIN(len, src ? MiB(1) : sizeof(zeros));
		struct vm_pin pin;
		int err = vm_space_pin_gpa(&g->space, gpa, chunk, VM_ACCESS_WRITE, &pin);
		if (err)
			return err;
		err = vm_pin_write(&pin, 0, src ? src : zeros, chunk);
		vm_space_unpin(&pin);
		if (err)
			return err;
		gpa.v += chunk;
		if (src)
			src = (const uint8_t *)src + chunk;
		len -= chunk;
	}
	return 0;
}

int guest_mem_read(struct guest *g, gpa_t gpa, void *dst, uint64_t len)
{
	while (len) {
		uint64_t chunk = MIN(len, MiB(1));
		struct vm_pin pin;
		int err = vm_space_pin_gpa(&g->space, gpa, chunk, VM_ACCESS_READ, &pin);
		if (err)
			return err;
		err = vm_pin_read(&pin, 0, dst, chunk);
		vm_space_unpin(&pin);
		if (err)
			return err;
		gpa.v += chunk;
		dst = (uint8_t *)dst + chunk;
		len -= chunk;
	}
	return 0;
}

/* Keel's scratch copy of the tables is static: guests are built one at a time. */
int guest_mem_build_tables(struct guest *g)
{
	static uint64_t tables[3][512];
	static const uint64_t gdt[4] = { 0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull,
					 0x00CF9A000000FFFFull };
	int err = guest_mem_write(g, GPA(GUEST_GDT), gdt, sizeof(gdt));
	if (err || g->mode != GUEST_MODE_LONG)
		return err;
	memset(tables, 0, sizeof(tables));
	tables[0][0] = (GUEST_PML4 + 0x1000) | 3;
	tables[1][0] = (GUEST_PML4 + 0x2000) | 3;
	for (uint64_t i = 0; i < 512; i++)
		tables[2][i] = (i * SIZE_2M) | 0x83; /* present, writable, 2M page */
	return guest_mem_write(g, GPA(GUEST_PML4), tables, sizeof(tables));
}

int guest_mem_load_image(struct guest *g, const struct guest_image *img, const uint8_t *data)
{
	for (unsigned i = 0; i < img->seg_count; i++) {
		const struct guest_image_seg *sg = &img->seg[i];
		int err = guest_mem_write(g, sg->gpa, data + sg->file_off, sg->file_size);
		if (!err && sg->mem_size > sg->file_size)
			err = guest_mem_write(g, GPA(sg->gpa.v + sg->file_size), NULL,
					      sg->mem_size - sg->file_size);
		if (err)
			return err;
	}
	return 0;
}

int guest_mem_populate(struct guest *g)
{
	for (gpa_t gpa = GPA(0); gpa.v < g->mem; gpa.v += SIZE_2M) {
		struct vm_pin pin;
		int err = vm_space_pin_gpa(&g->space, gpa, SIZE_2M, VM_ACCESS_WRITE, &pin);
		if (err)
			return err;
		vm_space_unpin(&pin);
	}
	return 0;
}

int guest_mem_release(struct guest *g, gpa_t gpa, uint64_t len)
{
	if (!len || !IS_ALIGNED(gpa.v | len, PAGE_SIZE) || gpa.v >= g->mem || len > g->mem - gpa.v)
		return -EINVAL;
	return vm_space_unmap_gpa(&g->space, gpa, len, VM_NOWAIT);
}
