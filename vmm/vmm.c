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
#include "report.h"
#include "sched.h"

CMDLINE_OPT(guest, "guest", CMDLINE_STR, 0, 0,
	    "NAME,image=MODULE[,mem=4M][,vcpus=1][,mode=long|32|real][,arg=N][,limit=MS]"
	    "[,populate=demand|eager]: run a guest (may repeat)");

static struct guest *guests[GUEST_MAX];
static unsigned guest_count;

static const struct boot_module *find_module(const char *name)
{
	for (unsigned i = 0; i < boot_info.mod_count; i++)
		if (!strcmp(boot_info.mods[i].name, name))
			return &boot_info.mods[i];
	return NULL;
}

static bool name_taken(const char *name)
{
	for (unsigned k = 0; k < guest_count; k++)
		if (!strcmp(guests[k]->name, name))
			return true;
	return false;
}

/* Chooses the mode: the ELF class decides, mode= must agree; flat images default to
 * long mode. Real and 32-bit mode need unrestricted guest (CR0.PE/PG = 0). */
static int pick_mode(const struct guest_desc *d, const struct guest_image *img,
		     enum guest_mode *mode, char *why, size_t why_len)
{
	int m = d->mode;
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
		return -ENOTSUP;
	}
	*mode = (enum guest_mode)m;
	return 0;
}

/* Finds and parses d's image; decides the mode. *data: the module's bytes. */
static int parse_image(const struct guest_desc *d, struct guest_image *img, enum guest_mode *mode,
		       const uint8_t **data, char *why, size_t why_len)
{
	const struct boot_module *m = find_module(d->image);
	if (!m) {
		snprintf(why, why_len, "no Multiboot module named '%s'", d->image);
		return -ENOENT;
	}
	*data = pa_to_kva(m->start);
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
	return pick_mode(d, img, mode, why, why_len);
}

/* Devices, RAM, Keel's tables, the image, and eager population if asked. */
static int build_guest(struct guest *g, const struct guest_desc *d, const struct guest_image *img,
		       const uint8_t *data)
{
	int err = vdev_platform_keel(g);
	if (err)
		return err;
	err = guest_mem_init(g);
	if (err)
		goto out_devices;
	err = guest_mem_build_tables(g);
	if (!err)
		err = guest_mem_load_image(g, img, data);
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
	err = build_guest(g, d, &img, data);
	if (err) {
		kfree(g);
		snprintf(why, why_len, "could not build guest memory (error %d)", err);
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
		return;
	}
	if (guest_create(&d, &g, buf, sizeof(buf))) {
		printk(KERN_ERR "vmm: guest %s not started: %s\n", d.name, buf);
		return;
	}
	guests[guest_count++] = g;
	printk("vmm: guest %s: %llu KiB RAM, %s image '%s', %u vCPU(s), %s mode at 0x%llx%s\n",
	       g->name, (unsigned long long)(g->mem >> 10), guest_image_kind_str(g->image_kind),
	       d.image, g->vcpu_count, report_mode_word(g->mode), (unsigned long long)g->entry,
	       d.eager ? ", RAM populated" : "");
	sched_add_guest(g);
}

/* Run-mode hook (kmain): builds every guest= description, runs them all at once on
 * every CPU (sched.c), then prints the summary. */
void vmm_run_guests(void)
{
	char desc[256];
	if (!cmdline_get_nth("guest", 0, desc, sizeof(desc)))
		return;
	if (!vmx_caps.usable) {
		printk(KERN_WARN "vmm: guests requested but none can run: %s\n",
		       vmx_caps.why[0] ? vmx_caps.why : "VMX unavailable");
		return;
	}
	set_flush_caps();
	for (unsigned n = 0; cmdline_get_nth("guest", n, desc, sizeof(desc)); n++) {
		if (guest_count == GUEST_MAX) {
			printk(KERN_ERR "vmm: guest #%u not started: more than %u guests\n", n,
			       GUEST_MAX);
			break;
		}
		start_guest(n, desc);
	}
	if (guest_count)
		sched_run(report_guest_end);
	report_summary(guests, guest_count);
}
