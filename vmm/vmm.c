/*
 * Running guests (kmain's vmm_run_guests hook): every `guest=` description is parsed,
 * its image found among the Multiboot modules and checked, the guest built (record,
 * devices, RAM, tables, image) and queued; then all run at once (sched.c) and the
 * summary follows (report.c). A bad description or image is reported and skipped; the
 * other guests still run. The top of vmm/: nothing in vmm/ calls into this file.
 */
#include <keel/boot.h>
#include <keel/cmdline.h>
#include <keel/errno.h>
#include <keel/heap.h>
#include <keel/printk.h>
#include <keel/string.h>

#include "dev/dev.h"
#include "dev/platform.h"
#include "guest_mem.h"
#include "layout.h"
#include "mb_load.h"
#include "multiboot.h"
#include "report.h"
#include "sched.h"

CMDLINE_OPT(guest, "guest", CMDLINE_STR, 0, 0,
	    "NAME,image=MODULE[,mem=4M][,vcpus=1][,mode=long|32|real][,arg=N][,limit=MS]"
	    "[,populate=demand|eager][,cmdline=TEXT][,module=M]...: run a guest (may repeat)");

static struct guest *guests[GUEST_MAX];
static unsigned guest_count;

/* Descriptions that gave no guest, for the verdicts: failed, or skipped when the CPU
 * lacks a feature the guest needs. */
#define REFUSED_MAX 32
static struct refused {
	char name[GUEST_NAME_MAX + 8];
	char why[160];
	bool skip;
} refused[REFUSED_MAX];
static unsigned refused_count, refused_lost;

static void refuse(const char *name, const char *why, bool skip)
{
	if (refused_count == REFUSED_MAX) {
		refused_lost++;
		return;
	}
	struct refused *r = &refused[refused_count++];
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->why, sizeof(r->why), "%s", why);
	r->skip = skip;
}

static bool name_taken(const char *name)
{
	for (unsigned k = 0; k < guest_count; k++)
		if (!strcmp(guests[k]->name, name))
			return true;
	return false;
}

/* Chooses the mode: the ELF class decides, mode= must agree; flat images default to
 * long mode. Real and 32-bit mode need unrestricted guest (CR0.PE/PG = 0): -ENODEV when
 * this CPU lacks it (the guest is fine; it is skipped, not failed). */
static int pick_mode(int m, const struct guest_image *img, enum guest_mode *mode, char *why,
		     size_t why_len)
{
	if (img->kind == GUEST_IMAGE_ELF64 || img->kind == GUEST_IMAGE_ELF32) {
		int want = img->kind == GUEST_IMAGE_ELF64 ? GUEST_MODE_LONG : GUEST_MODE_32;
		if (m >= 0 && m != want) {
			snprintf(why, why_len, "mode=%s does not match the %s image",
				 guest_mode_str((enum guest_mode)m),
				 guest_image_kind_str(img->kind));
			return -EINVAL;
		}
		m = want;
	} else if (m < 0) {
		m = GUEST_MODE_LONG;
	}
	if (m != GUEST_MODE_LONG && !vmx_caps.unrestricted) {
		snprintf(why, why_len,
			 "mode=%s needs the unrestricted-guest VMX feature, which this CPU lacks",
			 guest_mode_str((enum guest_mode)m));
		return -ENODEV;
	}
	*mode = (enum guest_mode)m;
	return 0;
}

/*
 * A Multiboot kernel (a header in its first 8 KiB) is loaded as QEMU -kernel loads it,
 * anywhere in RAM from GUEST_MB_LOAD_MIN but the low page Keel writes and the PC hole
 * below 1 MiB, and starts in 32-bit mode (mode= may only say so).
 */
static int parse_multiboot(const struct guest_desc *d, const struct mb_header *h,
			   const uint8_t *data, uint64_t size, struct guest_image *img,
			   enum guest_mode *mode, char *why, size_t why_len)
{
	const struct guest_image_layout lay = { .load_min = GUEST_MB_LOAD_MIN,
						.mem = d->mem,
						.hole_lo = GUEST_MB_LOW,
						.hole_hi = GUEST_MB_HOLE_END };
	int err = guest_image_parse_multiboot(data, size, h, &lay, img, why, why_len);
	if (err)
		return err;
	if (d->mode >= 0 && d->mode != GUEST_MODE_32) {
		snprintf(why, why_len, "mode=%s: a Multiboot kernel starts in 32-bit mode",
			 guest_mode_str((enum guest_mode)d->mode));
		return -EINVAL;
	}
	return pick_mode(GUEST_MODE_32, img, mode, why, why_len);
}

/* Finds and parses d's image; decides the mode. *data: the module's bytes. */
static int parse_image(const struct guest_desc *d, struct guest_image *img, enum guest_mode *mode,
		       const uint8_t **data, char *why, size_t why_len)
{
	const struct boot_module *m = guest_module_find(d->image);
	if (!m) {
		snprintf(why, why_len, "no Multiboot module named '%s'", d->image);
		return -ENOENT;
	}
	*data = pa_to_kva(m->start);
	struct mb_header h;
	if (mb_header_find(*data, m->end.v - m->start.v, &h))
		return parse_multiboot(d, &h, *data, m->end.v - m->start.v, img, mode, why,
				       why_len);
	if (d->has_cmdline || d->mod_count) {
		snprintf(why, why_len,
			 "cmdline= and module= need a Multiboot kernel (image "
			 "'%s' has no Multiboot header)",
			 d->image);
		return -EINVAL;
	}
	/* A flat image's mode is known before parsing only from mode=. */
	bool real = d->mode == GUEST_MODE_REAL;
	uint64_t flat_gpa = real ? GUEST_REAL_LOAD : GUEST_LOAD;
	uint64_t top = real ? MIN(d->mem, GUEST_REAL_TOP) : d->mem - d->vcpus * GUEST_STACK_SIZE;
	const struct guest_image_layout lay = { .flat_gpa = flat_gpa,
						.load_min = flat_gpa,
						.mem = top };
	int err = guest_image_parse(*data, m->end.v - m->start.v, &lay, img, why, why_len);
	if (err)
		return err;
	if (real && img->kind != GUEST_IMAGE_FLAT) {
		snprintf(why, why_len, "mode=real takes flat images only");
		return -EINVAL;
	}
	return pick_mode(d->mode, img, mode, why, why_len);
}

/* Devices, RAM, Keel's tables, the image, a Multiboot handoff, and eager population if
 * asked. */
static int build_guest(struct guest *g, const struct guest_desc *d, const struct guest_image *img,
		       const uint8_t *data, char *why, size_t why_len)
{
	snprintf(why, why_len, "could not build the guest (devices, memory or image)");
	int err = vdev_platform_keel(g);
	if (err)
		return err;
	err = guest_mem_init(g);
	if (err)
		goto out_devices;
	err = guest_mem_build_tables(g);
	if (!err)
		err = guest_mem_load_image(g, img, data);
	if (!err && g->multiboot)
		err = guest_mb_load(g, d, img, why, why_len);
	if (!err && d->eager)
		err = guest_mem_populate(g);
	if (!err)
		return 0;
	guest_mem_fini(g);
out_devices:
	vdev_bus_destroy(g->devices);
	g->devices = NULL;
	return err;
}

static int guest_create(const struct guest_desc *d, struct guest **out, char *why, size_t why_len)
{
	struct guest_image img;
	enum guest_mode mode;
	const uint8_t *data;
	int err = parse_image(d, &img, &mode, &data, why, why_len);
	if (err)
		return err;
	struct guest *g = kzalloc(sizeof(*g));
	if (!g) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	guest_init(g, d);
	g->mode = mode;
	g->entry = img.entry;
	g->image_kind = img.kind;
	g->multiboot = img.multiboot;
	err = build_guest(g, d, &img, data, why, why_len);
	if (err) {
		kfree(g);
		return err;
	}
	*out = g;
	return 0;
}

static void set_flush_caps(void)
{
	uint64_t e = vmx_caps.ept_vpid;
	ept_flush_caps.ad = vmx_caps.ept_ad;
	ept_flush_caps.invept_single = (e & EPTCAP_INVEPT_SINGLE) != 0;
	ept_flush_caps.invvpid = vmx_caps.vpid && (e & EPTCAP_INVVPID);
	ept_flush_caps.invvpid_single = (e & EPTCAP_INVVPID_SINGLE) != 0;
}

/* Builds guest number n from its description and queues it; prints why not. */
static void start_guest(unsigned n, char *desc)
{
	struct guest_desc d;
	const char *why = "";
	char buf[160];
	struct guest *g;
	if (guest_desc_parse(desc, &d, &why) ||
	    (name_taken(d.name) && (why = "another guest has that name"))) {
		printk(KERN_ERR "vmm: guest #%u not started: %s\n", n, why);
		snprintf(buf, sizeof(buf), "#%u", n);
		refuse(buf, why, false);
		return;
	}
	int err = guest_create(&d, &g, buf, sizeof(buf));
	if (err) {
		printk(KERN_ERR "vmm: guest %s not started: %s\n", d.name, buf);
		refuse(d.name, buf, err == -ENODEV);
		return;
	}
	guests[guest_count++] = g;
	printk("vmm: guest %s: %llu KiB RAM, %s%s image '%s', %u vCPU(s), %s mode at 0x%llx%s\n",
	       g->name, (unsigned long long)(g->mem >> 10), g->multiboot ? "Multiboot " : "",
	       guest_image_kind_str(g->image_kind), d.image, g->vcpu_count,
	       report_mode_word(g->mode), (unsigned long long)g->entry,
	       d.eager ? ", RAM populated" : "");
	sched_add_guest(g);
}

/* One verdict line per description; the totals. True if none failed. */
static bool verdicts(void)
{
	unsigned passed = 0, failed = 0, skipped = 0;
	for (unsigned i = 0; i < guest_count; i++) {
		bool ok = report_verdict(guests[i]);
		passed += ok;
		failed += !ok;
	}
	for (unsigned i = 0; i < refused_count; i++) {
		const struct refused *r = &refused[i];
		printk("guest %s: %s (not started: %s)\n", r->name, r->skip ? "SKIP" : "FAIL",
		       r->why);
		skipped += r->skip;
		failed += !r->skip;
	}
	if (refused_lost)
		printk("vmm: %u more descriptions not started (FAIL)\n", refused_lost);
	failed += refused_lost;
	printk("vmm: guest verdicts: %u passed, %u failed, %u skipped\n", passed, failed, skipped);
	return failed == 0;
}

/* Run-mode hook (kmain): builds every guest= description, runs them all at once on
 * every CPU (sched.c), then prints the summary and each guest's verdict. False if a
 * guest failed or could not start (also when none can run: no usable VMX). */
bool vmm_run_guests(void)
{
	static char desc[1024]; /* descriptions are read one at a time, on the BSP */
	if (!cmdline_get_nth("guest", 0, desc, sizeof(desc)))
		return true;
	if (!vmx_caps.usable) {
		printk(KERN_WARN "vmm: guests requested but none can run: %s\n",
		       vmx_caps.why[0] ? vmx_caps.why : "VMX unavailable");
		printk("vmm: guest verdicts: 0 passed, 1 failed, 0 skipped\n");
		return false;
	}
	set_flush_caps();
	for (unsigned n = 0; cmdline_get_nth("guest", n, desc, sizeof(desc)); n++) {
		if (guest_count == GUEST_MAX) {
			char name[16], why[40];
			snprintf(name, sizeof(name), "#%u", n);
			snprintf(why, sizeof(why), "more than %u guests", GUEST_MAX);
			printk(KERN_ERR "vmm: guest %s not started: %s\n", name, why);
			refuse(name, why, false);
			continue;
		}
		start_guest(n, desc);
	}
	if (guest_count)
		sched_run(report_guest_end);
	report_summary(guests, guest_count);
	return verdicts();
}
