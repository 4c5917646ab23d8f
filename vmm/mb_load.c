/*
 * Writes a Multiboot guest's handoff (mb_load.h): gathers the pieces from the guest's
 * description and Keel's boot modules, lets multiboot.c plan and build them, and copies
 * them into guest RAM through guest_mem.c. Knows nothing of vCPUs: vmcs.c puts the info
 * address in EBX.
 */
#include <keel/errno.h>
#include <keel/heap.h>
#include <keel/printk.h>
#include <keel/string.h>

#include "guest_mem.h"
#include "layout.h"
#include "mb_load.h"
#include "multiboot.h"

const struct boot_module *guest_module_find(const char *name)
{
	for (unsigned i = 0; i < boot_info.mod_count; i++)
		if (!strcmp(boot_info.mods[i].name, name))
			return &boot_info.mods[i];
	return NULL;
}

/* The boot modules d's module= values name (by their first word), into b and mods. */
static int find_modules(const struct guest_desc *d, struct mb_boot *b,
			const struct boot_module **mods, char *why, size_t why_len)
{
	for (unsigned i = 0; i < d->mod_count; i++) {
		char name[GUEST_MOD_STRING_MAX];
		const char *space = strchr(d->mod[i], ' ');
		size_t len = space ? (size_t)(space - d->mod[i]) : strlen(d->mod[i]);
		memcpy(name, d->mod[i], len);
		name[len] = '\0';
		mods[i] = guest_module_find(name);
		if (!mods[i]) {
			snprintf(why, why_len, "module=%s: no Multiboot module named '%s'",
				 d->mod[i], name);
			return -ENOENT;
		}
		b->mod_string[i] = d->mod[i];
		b->mod_size[i] = mods[i]->end.v - mods[i]->start.v;
	}
	b->mod_count = d->mod_count;
	return 0;
}

/* Writes the planned pieces: the low page, the area, each module's bytes. */
static int write_handoff(struct guest *g, const struct mb_boot *b, const struct mb_plan *p,
			 const struct boot_module *const *mods)
{
	uint8_t *low = kmalloc(MB_LOW_SIZE), *area = kmalloc(p->area_len);
	int err = -ENOMEM;
	if (low && area) {
		mb_build(b, p, low, area);
		err = guest_mem_write(g, GPA(GUEST_MB_LOW), low, MB_LOW_SIZE);
		if (!err)
			err = guest_mem_write(g, GPA(p->area_gpa), area, p->area_len);
	}
	kfree(low);
	kfree(area);
	for (unsigned i = 0; !err && i < b->mod_count; i++)
		err = guest_mem_write(g, GPA(p->mod_gpa[i]), pa_to_kva(mods[i]->start),
				      b->mod_size[i]);
	return err;
}

int guest_mb_load(struct guest *g, const struct guest_desc *d, const struct guest_image *img,
		  char *why, size_t why_len)
{
	static char cmdline[GUEST_CMDLINE_MAX + 72]; /* guests are built one at a time */
	const struct boot_module *mods[GUEST_MOD_MAX];
	struct mb_boot b = { .mem = g->mem, .image_lo = ~0ull, .cmdline = cmdline };
	snprintf(cmdline, sizeof(cmdline), "%s %s", d->image, d->cmdline);
	for (unsigned i = 0; i < img->seg_count; i++) {
		b.image_lo = MIN(b.image_lo, img->seg[i].gpa.v);
		b.image_hi = MAX(b.image_hi, img->seg[i].gpa.v + img->seg[i].mem_size);
	}
	struct mb_plan p;
	int err = find_modules(d, &b, mods, why, why_len);
	if (!err)
		err = mb_plan(&b, &p, why, why_len);
	if (err)
		return err;
	err = write_handoff(g, &b, &p, mods);
	if (err) {
		snprintf(why, why_len, "could not write the Multiboot information (error %d)", err);
		return err;
	}
	g->mb_info = p.info_gpa;
	return 0;
}
