/*
 * Guests: parsing `guest=NAME,image=MODULE,...` descriptions, building a guest (EPT
 * vm_space with guest RAM demand-paged at [0, mem), the image loaded by vmm/image.c's
 * rules, Keel's GDT and, for long mode, initial page tables), the UART line buffer,
 * how a guest ends, and the end-of-run summary. vmm/sched.c runs the vCPUs. A bad
 * description or image is reported and skipped; the other guests still run.
 *
 * Guest-physical layout (constants in guest.h):
 *   0x1000 PML4, 0x2000 PDPT, 0x3000 PD: long mode only, 2 MiB pages identity-mapping
 *          the first 1 GiB (above RAM too, so a stray access is an EPT violation that
 *          Keel reports, not a guest page fault)
 *   0x4000 GDT: null, 0x08 64-bit code, 0x10 data, 0x18 32-bit code
 *   0x7C00 flat real-mode images (CS:IP 0000:7C00, SP 0x7C00 - vcpu * 1 KiB)
 *   0x100000 flat long/32-bit images, entered at their first byte; ELF segments at
 *          their physical addresses, at or above 0x100000
 *   RSP of vCPU i (long, 32-bit): top of RAM - i * 64 KiB
 * Entry registers: rdi = arg=, rsi = vCPU index, rdx = vCPU count.
 */
#include <keel/boot.h>
#include <keel/cmdline.h>
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/heap.h>
#include <keel/printk.h>
#include <keel/smp.h>
#include <keel/string.h>
#include <keel/time.h>
#include <stdarg.h>

#include "guest.h"
#include "image.h"

CMDLINE_OPT(guest, "guest", CMDLINE_STR, 0, 0,
	    "NAME,image=MODULE[,mem=4M][,vcpus=1][,mode=long|32|real][,arg=N][,limit=MS]"
	    "[,populate=demand|eager]: run a guest (may repeat)");

static struct guest *guests[GUEST_MAX];
static unsigned guest_count;

static const char *const mode_names[] = { "long", "32", "real" };     /* mode= values */
static const char *const mode_words[] = { "long", "32-bit", "real" }; /* for people */

/* Records the end of g unless it has ended already (the first end wins). */
static void guest_end(struct guest *g, enum guest_state state, int64_t status, const char *why)
{
	unsigned long flags = spin_lock_irqsave(&g->lock);
	if (g->state != GUEST_EXITED && g->state != GUEST_KILLED) {
		g->status = status;
		memcpy(g->reason, why, strlen(why) + 1);
		__atomic_store_n(&g->state, state, __ATOMIC_RELEASE);
	}
	spin_unlock_irqrestore(&g->lock, flags);
}

enum exit_action guest_kill(struct guest *g, const char *fmt, ...)
{
	char why[sizeof(g->reason)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	guest_end(g, GUEST_KILLED, 0, why);
	return EXIT_STOP;
}

enum exit_action guest_exit(struct guest *g, int64_t status)
{
	guest_end(g, GUEST_EXITED, status, "");
	return EXIT_STOP;
}

bool guest_ended(struct guest *g)
{
	enum guest_state st = __atomic_load_n(&g->state, __ATOMIC_ACQUIRE);
	return st == GUEST_EXITED || st == GUEST_KILLED;
}

static void uart_flush_locked(struct guest *g)
{
	if (!g->uart_len)
		return;
	printk("[%s] %.*s\n", g->name, (int)g->uart_len, g->uart_line);
	g->uart_len = 0;
}

void guest_uart_flush(struct guest *g)
{
	unsigned long flags = spin_lock_irqsave(&g->lock);
	uart_flush_locked(g);
	spin_unlock_irqrestore(&g->lock, flags);
}

void guest_uart_put(struct guest *g, char c)
{
	if (c == '\r')
		return;
	unsigned long flags = spin_lock_irqsave(&g->lock);
	if (c == '\n') {
		if (!g->uart_len) /* an empty line still shows */
			printk("[%s] \n", g->name);
		uart_flush_locked(g);
	} else {
		if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7E)
			c = '?';
		g->uart_line[g->uart_len++] = c;
		if (g->uart_len == GUEST_UART_LINE)
			uart_flush_locked(g);
	}
	spin_unlock_irqrestore(&g->lock, flags);
}

/* A number (cmdline_parse_uint) of bytes, or of K/M/G with that suffix: "4M". */
static bool parse_size(const char *s, uint64_t *out)
{
	size_t len = strlen(s);
	unsigned shift = 0;
	switch (len ? s[len - 1] | 0x20 : 0) {
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	}
	if (!cmdline_parse_uint(s, len - (shift != 0), out) || *out > (1ull << 40))
		return false;
	*out <<= shift;
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	return cmdline_parse_uint(s, strlen(s), out);
}

static int parse_mode(const char *s)
{
	for (unsigned i = 0; i < ARRAY_SIZE(mode_names); i++)
		if (!strcmp(s, mode_names[i]))
			return (int)i;
	return -1;
}

int guest_desc_parse(char *s, struct guest_desc *d, const char **why)
{
	memset(d, 0, sizeof(*d));
	d->mem = MiB(4);
	d->vcpus = 1;
	d->mode = -1;
	char *field = s;
	for (unsigned i = 0; field; i++) {
		char *next = strchr(field, ',');
		if (next)
			*next++ = '\0';
		char *eq = strchr(field, '=');
		uint64_t n;
		if (i == 0 && !eq) {
			if (!*field || strlen(field) >= sizeof(d->name))
				return *why = "name empty or longer than 23 characters", -EINVAL;
			memcpy(d->name, field, strlen(field) + 1);
			field = next;
			continue;
		}
		if (!eq)
			return *why = "expected key=value after the name", -EINVAL;
		*eq++ = '\0';
		if (!strcmp(field, "image")) {
			if (!*eq || strlen(eq) >= sizeof(d->image))
				return *why = "image= empty or longer than 63 characters", -EINVAL;
			memcpy(d->image, eq, strlen(eq) + 1);
		} else if (!strcmp(field, "mem")) {
			if (!parse_size(eq, &d->mem))
				return *why = "bad mem= (e.g. mem=4M)", -EINVAL;
		} else if (!strcmp(field, "vcpus")) {
			if (!parse_u64(eq, &n) || n < 1 || n > GUEST_VCPU_MAX)
				return *why = "vcpus= must be 1 to 8", -EINVAL;
			d->vcpus = (unsigned)n;
		} else if (!strcmp(field, "mode")) {
			if ((d->mode = parse_mode(eq)) < 0)
				return *why = "mode= must be long, 32 or real", -EINVAL;
		} else if (!strcmp(field, "arg")) {
			if (!parse_u64(eq, &d->arg))
				return *why = "arg= must be a decimal or 0x-hex number", -EINVAL;
		} else if (!strcmp(field, "limit")) {
			if (!parse_u64(eq, &d->limit_ms) || d->limit_ms > 86400000)
				return *why = "limit= must be milliseconds (at most a day)",
				       -EINVAL;
		} else if (!strcmp(field, "populate")) {
			if (strcmp(eq, "demand") && strcmp(eq, "eager"))
				return *why = "populate= must be demand or eager", -EINVAL;
			d->eager = !strcmp(eq, "eager");
		} else {
			return *why = "unknown key (image, mem, vcpus, mode, arg, limit, populate)",
			       -EINVAL;
		}
		field = next;
	}
	if (!d->name[0] || !d->image[0])
		return *why = "needs a name and image=MODULE", -EINVAL;
	if (d->mem < MiB(2) || d->mem > GiB(1) || (d->mem & (SIZE_2M - 1)))
		return *why = "mem must be a multiple of 2M between 2M and 1G", -EINVAL;
	for (unsigned k = 0; k < guest_count; k++)
		if (!strcmp(guests[k]->name, d->name))
			return *why = "another guest has that name", -EINVAL;
	return 0;
}

static const struct boot_module *find_module(const char *name)
{
	for (unsigned i = 0; i < boot_info.mod_count; i++)
		if (!strcmp(boot_info.mods[i].name, name))
			return &boot_info.mods[i];
	return NULL;
}

/* Copies len bytes to guest-physical gpa through a pin (pages fault in); src NULL
 * writes zeros. */
static int guest_write(struct guest *g, uint64_t gpa, const void *src, uint64_t len)
{
	static const uint8_t zeros[4096];
	while (len) {
		uint64_t chunk = MIN(len, src ? MiB(1) : sizeof(zeros));
		struct vm_pin pin;
		int err = vm_space_pin(&g->space, VA(gpa), chunk, VM_ACCESS_WRITE, &pin);
		if (err)
			return err;
		err = vm_pin_write(&pin, 0, src ? src : zeros, chunk);
		vm_space_unpin(&pin);
		if (err)
			return err;
		gpa += chunk;
		if (src)
			src = (const uint8_t *)src + chunk;
		len -= chunk;
	}
	return 0;
}

/* The GDT every mode gets; for long mode also identity page tables (2 MiB pages, the
 * first 1 GiB). Keel's scratch copy is static: guests are built one at a time. */
static int guest_build_tables(struct guest *g)
{
	static uint64_t tables[3][512];
	static const uint64_t gdt[4] = { 0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull,
					 0x00CF9A000000FFFFull };
	int err = guest_write(g, GUEST_GDT, gdt, sizeof(gdt));
	if (err || g->mode != GUEST_MODE_LONG)
		return err;
	memset(tables, 0, sizeof(tables));
	tables[0][0] = (GUEST_PML4 + 0x1000) | 3;
	tables[1][0] = (GUEST_PML4 + 0x2000) | 3;
	for (uint64_t i = 0; i < 512; i++)
		tables[2][i] = (i * SIZE_2M) | 0x83; /* present, writable, 2M page */
	return guest_write(g, GUEST_PML4, tables, sizeof(tables));
}

/* Loads the parsed image's segments (file bytes, then zeros up to mem_size). */
static int guest_load_image(struct guest *g, const struct guest_image *img, const uint8_t *data)
{
	for (unsigned i = 0; i < img->seg_count; i++) {
		const struct guest_image_seg *sg = &img->seg[i];
		int err = guest_write(g, sg->gpa, data + sg->file_off, sg->file_size);
		if (!err && sg->mem_size > sg->file_size)
			err = guest_write(g, sg->gpa + sg->file_size, NULL,
					  sg->mem_size - sg->file_size);
		if (err)
			return err;
	}
	return 0;
}

/* Faults every page of guest RAM in now (populate=eager). */
static int guest_populate(struct guest *g)
{
	for (uint64_t gpa = 0; gpa < g->mem; gpa += SIZE_2M) {
		struct vm_pin pin;
		int err = vm_space_pin(&g->space, VA(gpa), SIZE_2M, VM_ACCESS_WRITE, &pin);
		if (err)
			return err;
		vm_space_unpin(&pin);
	}
	return 0;
}

/* Chooses the mode: the ELF class decides, mode= must agree; flat images default to
 * long mode. Real and 32-bit mode need unrestricted guest (CR0.PE/PG = 0). */
static int guest_pick_mode(const struct guest_desc *d, const struct guest_image *img,
			   enum guest_mode *mode, char *why, size_t why_len)
{
	int m = d->mode;
	if (img->kind == GUEST_IMAGE_ELF64 || img->kind == GUEST_IMAGE_ELF32) {
		int want = img->kind == GUEST_IMAGE_ELF64 ? GUEST_MODE_LONG : GUEST_MODE_32;
		if (m >= 0 && m != want) {
			snprintf(why, why_len, "mode=%s does not match the %s image", mode_names[m],
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
			 mode_names[m]);
		return -ENOTSUP;
	}
	*mode = (enum guest_mode)m;
	return 0;
}

static uint16_t vpid_next = 1; /* VPIDs are never reused in a run (at most 64 vCPUs) */

static int guest_create(const struct guest_desc *d, struct guest **out, char *why, size_t why_len)
{
	const struct boot_module *m = find_module(d->image);
	if (!m) {
		snprintf(why, why_len, "no Multiboot module named '%s'", d->image);
		return -ENOENT;
	}
	const uint8_t *data = pa_to_kva(m->start);
	uint64_t size = m->end.v - m->start.v;
	struct guest_image img;
	/* A flat image's mode is known before parsing only from mode=. */
	bool real = d->mode == GUEST_MODE_REAL;
	uint64_t flat_gpa = real ? GUEST_REAL_LOAD : GUEST_LOAD;
	uint64_t top = real ? MIN(d->mem, GUEST_REAL_TOP) : d->mem - d->vcpus * GUEST_STACK_SIZE;
	const struct guest_image_layout lay = { .flat_gpa = flat_gpa,
						.load_min = flat_gpa,
						.mem = top };
	int err = guest_image_parse(data, size, &lay, &img, why, why_len);
	if (err)
		return err;
	if (real && img.kind != GUEST_IMAGE_FLAT) {
		snprintf(why, why_len, "mode=real takes flat images only");
		return -EINVAL;
	}
	enum guest_mode mode;
	if ((err = guest_pick_mode(d, &img, &mode, why, why_len)))
		return err;
	struct guest *g = kzalloc(sizeof(*g));
	if (!g) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	memcpy(g->name, d->name, sizeof(g->name));
	spin_init(&g->lock);
	g->mem = d->mem;
	g->mode = mode;
	g->entry = img.entry;
	g->image_kind = img.kind;
	g->arg = d->arg;
	g->limit_ms = d->limit_ms;
	g->vcpu_count = d->vcpus;
	for (unsigned i = 0; i < d->vcpus; i++) {
		struct vcpu *v = &g->vcpus[i];
		v->guest = g;
		v->index = i;
		v->host_cpu = -1;
		v->running_on = -1;
		v->irq_pending = -1;
		v->vpid = vmx_caps.vpid ? vpid_next++ : 0;
	}
	/* EPT spaces carry no VPID: INVEPT single-context drops the combined mappings of
	 * every VPID for that EPTP (SDM Vol 3C 29.4.3.1), so each vCPU has its own VPID. */
	err = vm_space_init(&g->space, VM_SPACE_GUEST_EPT, 0);
	if (err)
		goto out_free;
	err = vm_space_add_demand_region(&g->space, VA(0), g->mem, PT_PROP(PT_PROP_RWX));
	if (!err)
		err = guest_build_tables(g);
	if (!err)
		err = guest_load_image(g, &img, data);
	if (!err && d->eager)
		err = guest_populate(g);
	if (err)
		goto out_fini;
	*out = g;
	return 0;
out_fini:
	vm_space_fini(&g->space);
out_free:
	kfree(g);
	snprintf(why, why_len, "could not build guest memory (error %d)", err);
	return err;
}

static void guest_print_stats(const struct guest *g, uint64_t *total, uint64_t *hcalls, char *buf,
			      size_t len)
{
	uint64_t count[EXIT_REASON_COUNT] = { 0 };
	*total = *hcalls = 0;
	for (unsigned i = 0; i < g->vcpu_count; i++) {
		const struct vcpu *v = &g->vcpus[i];
		for (unsigned r = 0; r < EXIT_REASON_COUNT; r++)
			count[r] += v->exit_count[r];
		*total += v->exit_total;
		*hcalls += v->hypercall_count;
	}
	int n = 0;
	buf[0] = '\0';
	for (unsigned r = 0; r < EXIT_REASON_COUNT; r++)
		if (count[r] && n < (int)len - 48)
			n += snprintf(buf + n, len - (size_t)n, "%s%s=%llu", n ? ", " : "",
				      vmx_exit_reason_str(r), (unsigned long long)count[r]);
}

/* Prints the VMCALL rate of guests that made many hypercalls, over the time their
 * vCPUs held a CPU (TSC-timed: under an emulator, the emulator's virtual time). */
static void guest_print_rate(const struct guest *g, uint64_t hcalls)
{
	uint64_t hz = time_cycles_hz(), cycles = 0;
	for (unsigned i = 0; i < g->vcpu_count; i++)
		cycles += g->vcpus[i].run_cycles;
	if (hcalls < 1000 || !hz || !cycles)
		return;
	printk("guest %s: %llu hypercalls in %llu us on CPU: %llu VMCALL round trips/s\n", g->name,
	       (unsigned long long)hcalls, (unsigned long long)(cycles * 1000000 / hz),
	       (unsigned long long)(hcalls * hz / cycles));
}

void guest_finished(struct guest *g)
{
	char buf[400];
	uint64_t total, hcalls;
	g->tsc_end = rdtsc();
	guest_uart_flush(g);
	guest_print_stats(g, &total, &hcalls, buf, sizeof(buf));
	uint64_t hz = time_cycles_hz();
	unsigned long long ms = hz ? (g->tsc_end - g->tsc_start) / (hz / 1000) : 0;
	unsigned long long slices = 0, moves = 0, irqs = 0;
	for (unsigned i = 0; i < g->vcpu_count; i++) {
		slices += g->vcpus[i].slices;
		moves += g->vcpus[i].migrations;
		irqs += g->vcpus[i].irqs_injected;
	}
	char how[96];
	snprintf(how, sizeof(how), "after %llu ms; %llu slices, %llu CPU moves, %llu interrupts",
		 ms, slices, moves, irqs);
	if (g->state == GUEST_EXITED)
		printk("guest %s: exited with status %lld (%s)\n", g->name, (long long)g->status,
		       how);
	else
		printk("guest %s: ended: %s (%s)\n", g->name, g->reason, how);
	guest_print_rate(g, hcalls);
}

static void cpus_str(const struct guest *g, char *buf, size_t len)
{
	cpumask_t m = CPUMASK_NONE;
	for (unsigned i = 0; i < g->vcpu_count; i++)
		m = cpumask_or(m, g->vcpus[i].ran_on);
	int n = 0;
	unsigned cpu;
	buf[0] = '\0';
	cpumask_for_each (cpu, m)
		if (n < (int)len - 4)
			n += snprintf(buf + n, len - (size_t)n, "%s%u", n ? "," : "", cpu);
}

static void guest_summary(void)
{
	printk("guest summary (%u guests):\n", guest_count);
	printk("  %-12s %-6s %-8s %-6s %-5s %-7s %-6s %s\n", "name", "mode", "state", "status",
	       "vcpus", "cpus", "pages", "exits");
	for (unsigned i = 0; i < guest_count; i++) {
		const struct guest *g = guests[i];
		char buf[400], cpus[24];
		uint64_t total, hcalls;
		guest_print_stats(g, &total, &hcalls, buf, sizeof(buf));
		cpus_str(g, cpus, sizeof(cpus));
		printk("  %-12s %-6s %-8s %-6lld %-5u %-7s %-6llu %llu: %s\n", g->name,
		       mode_words[g->mode], g->state == GUEST_EXITED ? "exited" : "killed",
		       (long long)g->status, g->vcpu_count, cpus,
		       (unsigned long long)g->space.fault_count, (unsigned long long)total, buf);
		if (g->state != GUEST_EXITED)
			printk("  %-12s reason: %s\n", g->name, g->reason);
	}
}

static void set_flush_caps(void)
{
	uint64_t e = vmx_caps.ept_vpid;
	ept_flush_caps.ad = vmx_caps.ept_ad;
	ept_flush_caps.invept_single = (e & EPTCAP_INVEPT_SINGLE) != 0;
	ept_flush_caps.invvpid = vmx_caps.vpid && (e & EPTCAP_INVVPID);
	ept_flush_caps.invvpid_single = (e & EPTCAP_INVVPID_SINGLE) != 0;
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
		struct guest_desc d;
		const char *why = "";
		char buf[160];
		struct guest *g;
		if (guest_count == GUEST_MAX) {
			printk(KERN_ERR "vmm: guest #%u not started: more than %u guests\n", n,
			       GUEST_MAX);
			break;
		}
		if (guest_desc_parse(desc, &d, &why)) {
			printk(KERN_ERR "vmm: guest #%u not started: %s\n", n, why);
			continue;
		}
		if (guest_create(&d, &g, buf, sizeof(buf))) {
			printk(KERN_ERR "vmm: guest %s not started: %s\n", d.name, buf);
			continue;
		}
		guests[guest_count++] = g;
		printk("vmm: guest %s: %llu KiB RAM, %s image '%s', %u vCPU(s), %s mode at 0x%llx"
		       "%s\n",
		       g->name, (unsigned long long)(g->mem >> 10),
		       guest_image_kind_str(g->image_kind), d.image, g->vcpu_count,
		       mode_words[g->mode], (unsigned long long)g->entry,
		       d.eager ? ", RAM populated" : "");
		sched_add_guest(g);
	}
	if (guest_count)
		sched_run();
	guest_summary();
}
