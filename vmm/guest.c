/*
 * Guests: parsing `guest=NAME,image=MODULE,mem=4M,vcpus=1,mode=long` descriptions,
 * building a guest (EPT vm_space with guest RAM demand-paged at [0, mem), the image
 * copied to GPA 0x100000, initial page tables and GDT written by Keel), running its
 * vCPU on the boot CPU until it ends, and the end-of-run summary. Guests run one after
 * the other on the boot CPU. A bad description or image is reported and skipped.
 *
 * Guest-physical layout (64-bit long mode):
 *   0x1000 PML4, 0x2000 PDPT, 0x3000 PD (2 MiB pages identity-mapping RAM, up to 1 GiB)
 *   0x4000 GDT: null, 0x08 64-bit code, 0x10 data
 *   0x100000 the flat image, entered at its first byte; RSP = top of RAM
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

CMDLINE_OPT(guest, "guest", CMDLINE_STR, 0, 0,
	    "NAME,image=MODULE,mem=4M,vcpus=1,mode=long: run a guest (may repeat)");

#define GUEST_PML4 0x1000ull
#define GUEST_GDT 0x4000ull
#define GUEST_LOAD 0x100000ull
#define GUEST_STACK_ROOM 0x10000ull

static struct guest *guests[GUEST_MAX];
static unsigned guest_count;

enum exit_action guest_kill(struct guest *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->reason, sizeof(g->reason), fmt, ap);
	va_end(ap);
	g->state = GUEST_KILLED;
	return EXIT_STOP;
}

void guest_uart_flush(struct guest *g)
{
	if (!g->uart_len)
		return;
	printk("[%s] %.*s\n", g->name, (int)g->uart_len, g->uart_line);
	g->uart_len = 0;
}

void guest_uart_put(struct guest *g, char c)
{
	if (c == '\r')
		return;
	if (c == '\n') {
		if (!g->uart_len) /* an empty line still shows */
			printk("[%s] \n", g->name);
		guest_uart_flush(g);
		return;
	}
	if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7E)
		c = '?';
	g->uart_line[g->uart_len++] = c;
	if (g->uart_len == GUEST_UART_LINE)
		guest_uart_flush(g);
}

/* "4M" / "512K" / "1G" / bytes. Returns false if malformed. */
static bool parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (1ull << 40))
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s == 'K' || *s == 'k')
		v <<= 10, s++;
	else if (*s == 'M' || *s == 'm')
		v <<= 20, s++;
	else if (*s == 'G' || *s == 'g')
		v <<= 30, s++;
	*out = v;
	return *s == '\0';
}

struct guest_desc {
	char name[GUEST_NAME_MAX];
	char image[64];
	uint64_t mem;
	unsigned vcpus;
	char mode[8];
};

/* Parses one description into d. Returns 0 or -EINVAL with *why set. */
static int guest_desc_parse(char *s, struct guest_desc *d, const char **why)
{
	memset(d, 0, sizeof(*d));
	d->mem = MiB(4);
	d->vcpus = 1;
	memcpy(d->mode, "long", 5);
	char *field = s;
	for (unsigned i = 0; field; i++) {
		char *next = strchr(field, ',');
		if (next)
			*next++ = '\0';
		char *eq = strchr(field, '=');
		if (i == 0 && !eq) {
			if (!*field || strlen(field) >= sizeof(d->name))
				return *why = "name empty or longer than 23 characters", -EINVAL;
			memcpy(d->name, field, strlen(field) + 1);
		} else if (!eq) {
			return *why = "expected key=value after the name", -EINVAL;
		} else {
			*eq++ = '\0';
			if (!strcmp(field, "image") && strlen(eq) < sizeof(d->image))
				memcpy(d->image, eq, strlen(eq) + 1);
			else if (!strcmp(field, "mem")) {
				if (!parse_size(eq, &d->mem))
					return *why = "bad mem= (e.g. mem=4M)", -EINVAL;
			} else if (!strcmp(field, "vcpus") && !strcmp(eq, "1"))
				d->vcpus = 1;
			else if (!strcmp(field, "vcpus"))
				return *why = "only vcpus=1 is supported yet", -EINVAL;
			else if (!strcmp(field, "mode") && !strcmp(eq, "long"))
				;
			else if (!strcmp(field, "mode"))
				return *why = "only mode=long is supported yet (real/32-bit later)",
				       -EINVAL;
			else
				return *why = "unknown key (image, mem, vcpus, mode)", -EINVAL;
		}
		field = next;
	}
	if (!d->name[0] || !d->image[0])
		return *why = "needs a name and image=MODULE", -EINVAL;
	if (d->mem < MiB(2) || d->mem > GiB(1) || (d->mem & (SIZE_2M - 1)))
		return *why = "mem must be a multiple of 2M between 2M and 1G", -EINVAL;
	return 0;
}

static const struct boot_module *find_module(const char *name)
{
	for (unsigned i = 0; i < boot_info.mod_count; i++)
		if (!strcmp(boot_info.mods[i].name, name))
			return &boot_info.mods[i];
	return NULL;
}

/* Copies len bytes to guest-physical gpa through a pin (pages fault in). */
static int guest_write(struct guest *g, uint64_t gpa, const void *src, uint64_t len)
{
	while (len) {
		uint64_t chunk = MIN(len, MiB(1));
		struct vm_pin pin;
		int err = vm_space_pin(&g->space, VA(gpa), chunk, VM_ACCESS_WRITE, &pin);
		if (err)
			return err;
		err = vm_pin_write(&pin, 0, src, chunk);
		vm_space_unpin(&pin);
		if (err)
			return err;
		gpa += chunk;
		src = (const uint8_t *)src + chunk;
		len -= chunk;
	}
	return 0;
}

/* Identity page tables with 2 MiB pages over RAM, and the GDT. */
static int guest_build_long_mode(struct guest *g)
{
	static uint64_t tables[3][512]; /* boot CPU only, guests built one at a time */
	memset(tables, 0, sizeof(tables));
	tables[0][0] = (GUEST_PML4 + 0x1000) | 3;
	tables[1][0] = (GUEST_PML4 + 0x2000) | 3;
	for (uint64_t i = 0; i < g->mem / SIZE_2M; i++)
		tables[2][i] = (i * SIZE_2M) | 0x83; /* present, writable, 2M page */
	static const uint64_t gdt[3] = { 0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull };
	int err = guest_write(g, GUEST_PML4, tables, sizeof(tables));
	return err ? err : guest_write(g, GUEST_GDT, gdt, sizeof(gdt));
}

static int guest_create(const struct guest_desc *d, unsigned index, struct guest **out,
			const char **why)
{
	const struct boot_module *m = find_module(d->image);
	if (!m)
		return *why = "no Multiboot module with that image name", -ENOENT;
	uint64_t size = m->end.v - m->start.v;
	if (!size || size > d->mem - GUEST_LOAD - GUEST_STACK_ROOM)
		return *why = "image empty or too big for mem (loaded at 1M, 64K stack)", -E2BIG;
	struct guest *g = kzalloc(sizeof(*g));
	if (!g)
		return *why = "out of memory", -ENOMEM;
	memcpy(g->name, d->name, sizeof(g->name));
	g->mem = d->mem;
	g->entry_rip = GUEST_LOAD;
	g->vcpu.guest = g;
	int err = vm_space_init(&g->space, VM_SPACE_GUEST_EPT, vmx_caps.vpid ? index + 1 : 0);
	if (err)
		goto out_free;
	err = vm_space_add_demand_region(&g->space, VA(0), g->mem, PT_PROP(PT_PROP_RWX));
	if (!err)
		err = guest_build_long_mode(g);
	if (!err)
		err = guest_write(g, GUEST_LOAD, pa_to_kva(m->start), size);
	if (err)
		goto out_fini;
	*out = g;
	return 0;
out_fini:
	vm_space_fini(&g->space);
out_free:
	kfree(g);
	return *why = "could not build guest memory", err;
}

/* Decodes a failed VMLAUNCH/VMRESUME (SDM Vol 3C 31.2, 31.4). */
static void vcpu_entry_failed(struct vcpu *v, int rc)
{
	if (rc == 1) {
		guest_kill(v->guest, "VM entry failed: VMfailInvalid (no current VMCS)");
		return;
	}
	uint32_t e = (uint32_t)vmread(VMCS_INSN_ERROR);
	guest_kill(v->guest, "VM entry failed: VM-instruction error %u: %s", e,
		   vmx_insn_error_str(e));
}

/* Handles one VM exit. */
static enum exit_action vcpu_handle_exit(struct vcpu *v)
{
	struct guest *g = v->guest;
	uint32_t reason = (uint32_t)vmread(VMCS_EXIT_REASON);
	uint32_t basic = reason & 0xFFFF;
	v->exit_qual = vmread(VMCS_EXIT_QUAL);
	v->rip = vmread(VMCS_GUEST_RIP);
	v->insn_len = vmread(VMCS_EXIT_INSN_LEN);
	g->exit_total++;
	if (basic < EXIT_REASON_COUNT)
		g->exit_count[basic]++;
	if (reason & EXIT_REASON_ENTRY_FAIL) /* 27.8: entry failed loading guest state */
		return guest_kill(g, "VM entry failed: exit reason %u (%s), qualification 0x%llx",
				  basic, vmx_exit_reason_str(basic),
				  (unsigned long long)v->exit_qual);
	exit_handler_fn h = basic < EXIT_REASON_COUNT ? vmx_exit_handlers[basic] : NULL;
	if (!h)
		return guest_kill(g, "unhandled exit %u (%s) at RIP 0x%llx, qualification 0x%llx",
				  basic, vmx_exit_reason_str(basic), (unsigned long long)v->rip,
				  (unsigned long long)v->exit_qual);
	return h(v);
}

/*
 * Runs g's vCPU on this CPU until the guest ends. Interrupts are off only around the
 * entry itself: exit handlers may fault pages in and wait for other CPUs.
 */
static void guest_run(struct guest *g)
{
	struct vcpu *v = &g->vcpu;
	v->vmcs = frame_alloc(0, FRAME_KERNEL);
	if (!v->vmcs) {
		guest_kill(g, "out of memory for the VMCS");
		g->state = GUEST_FAILED;
		return;
	}
	memset(frame_kva(v->vmcs), 0, PAGE_SIZE);
	*(uint32_t *)frame_kva(v->vmcs) = (uint32_t)(vmx_caps.basic & 0x7FFFFFFF);
	unsigned long flags = arch_irq_save();
	paddr_t vmcs_pa = frame_pa(v->vmcs);
	int err = vmx_vmclear(vmcs_pa) || vmx_vmptrld(vmcs_pa);
	if (!err)
		err = vmcs_setup(v, GUEST_PML4, GUEST_GDT, g->mem);
	if (err) {
		arch_irq_restore(flags);
		guest_kill(g, "VMCS set-up failed (VMCLEAR/VMPTRLD/VMWRITE)");
		g->state = GUEST_FAILED;
		goto out_free;
	}
	vm_space_activate(&g->space);
	g->state = GUEST_RUNNING;
	g->tsc_start = rdtsc();
	for (;;) {
		cli();
		int rc = vmx_enter(&v->regs, v->launched);
		sti(); /* a pending host interrupt (external-interrupt exit) is taken here */
		if (rc) {
			vcpu_entry_failed(v, rc);
			break;
		}
		v->launched = true;
		if (vcpu_handle_exit(v) == EXIT_STOP)
			break;
	}
	g->tsc_end = rdtsc();
	cli();
	vm_space_deactivate(&g->space);
	(void)vmx_vmclear(vmcs_pa);
	arch_irq_restore(flags);
	guest_uart_flush(g);
out_free:
	frame_free(v->vmcs, 0);
	v->vmcs = NULL;
}

static void guest_print_end(const struct guest *g)
{
	if (g->state == GUEST_EXITED)
		printk("guest %s: exited with status %lld\n", g->name, (long long)g->status);
	else
		printk("guest %s: ended: %s\n", g->name, g->reason);
}

static void guest_summary(void)
{
	printk("guest summary (%u guests):\n", guest_count);
	for (unsigned i = 0; i < guest_count; i++) {
		const struct guest *g = guests[i];
		char buf[400];
		int n = 0;
		for (unsigned r = 0; r < EXIT_REASON_COUNT; r++)
			if (g->exit_count[r] && n < (int)sizeof(buf) - 48)
				n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s%s=%llu",
					      n ? ", " : "", vmx_exit_reason_str(r),
					      (unsigned long long)g->exit_count[r]);
		buf[n] = '\0';
		printk("  %-12s %-8s status %-4lld exits %-6llu pages %-4llu %s\n", g->name,
		       g->state == GUEST_EXITED ? "exited" : "killed", (long long)g->status,
		       (unsigned long long)g->exit_total, (unsigned long long)g->space.fault_count,
		       buf);
		if (g->state != GUEST_EXITED)
			printk("  %-12s reason: %s\n", g->name, g->reason);
	}
}

/* Prints the VMCALL rate of guests that made many hypercalls (TSC-timed, virtual). */
static void guest_print_rate(const struct guest *g)
{
	uint64_t hz = time_cycles_hz(), cycles = g->tsc_end - g->tsc_start;
	if (g->hypercall_count < 1000 || !hz || !cycles)
		return;
	uint64_t per_s = g->hypercall_count * hz / cycles;
	printk("guest %s: %llu hypercalls in %llu us of guest run time: %llu VMCALL round "
	       "trips/s\n",
	       g->name, (unsigned long long)g->hypercall_count,
	       (unsigned long long)(cycles * 1000000 / hz), (unsigned long long)per_s);
}

static void set_flush_caps(void)
{
	uint64_t e = vmx_caps.ept_vpid;
	ept_flush_caps.ad = vmx_caps.ept_ad;
	ept_flush_caps.invept_single = (e & EPTCAP_INVEPT_SINGLE) != 0;
	ept_flush_caps.invvpid = vmx_caps.vpid && (e & EPTCAP_INVVPID);
	ept_flush_caps.invvpid_single = (e & EPTCAP_INVVPID_SINGLE) != 0;
}

/* Run-mode hook (kmain): builds and runs every guest= description in turn. */
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
		struct guest *g;
		if (guest_count == GUEST_MAX) {
			printk(KERN_ERR "vmm: guest #%u: more than %u guests\n", n, GUEST_MAX);
			break;
		}
		if (guest_desc_parse(desc, &d, &why) || guest_create(&d, n, &g, &why)) {
			printk(KERN_ERR "vmm: guest #%u not started: %s\n", n, why);
			continue;
		}
		guests[guest_count++] = g;
		printk("vmm: guest %s: %llu KiB RAM, image '%s', entering long mode at 0x%llx\n",
		       g->name, (unsigned long long)(g->mem >> 10), d.image,
		       (unsigned long long)g->entry_rip);
		guest_run(g);
		guest_print_end(g);
		guest_print_rate(g);
	}
	guest_summary();
}
