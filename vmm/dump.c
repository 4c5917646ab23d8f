/*
 * The dumps of dump.h. VMCS field encodings: SDM Vol 3D appendix B; control bits: Vol 3C
 * 25.6-25.8; exit information: 25.9 and 28.2. The EPT ranges come from the engine's
 * cursor (kernel/mm/pt.h: find_next / jump), collected a batch at a time and printed
 * after the cursor ended, so no page-table lock is held while the console is slow.
 */
#include <keel/cmdline.h>
#include <keel/errno.h>
#include <keel/printk.h>
#include <keel/string.h>
#include <mm/pt.h>

#include "dump.h"
#include "vcpu_state.h"

CMDLINE_OPT(dump, "dump", CMDLINE_STR, 0, 0,
	    "NAME[,NAME]: print the VMCS, EPT and exit dump of these guests at their end");

struct bit_name {
	uint8_t bit;
	const char *name;
};

#define BITS(t) t, ARRAY_SIZE(t)

static const struct bit_name pin_bits[] = { { 0, "ext-intr" },
					    { 3, "nmi" },
					    { 5, "virtual-nmi" },
					    { 6, "preempt-timer" },
					    { 7, "posted-intr" } };
static const struct bit_name proc_bits[] = {
	{ 2, "intr-window" }, { 3, "tsc-offset" },  { 7, "hlt" },	   { 9, "invlpg" },
	{ 10, "mwait" },      { 11, "rdpmc" },	    { 12, "rdtsc" },	   { 15, "cr3-load" },
	{ 16, "cr3-store" },  { 17, "tertiary" },   { 19, "cr8-load" },	   { 20, "cr8-store" },
	{ 21, "tpr-shadow" }, { 22, "nmi-window" }, { 23, "mov-dr" },	   { 24, "uncond-io" },
	{ 25, "io-bitmaps" }, { 27, "mtf" },	    { 28, "msr-bitmaps" }, { 29, "monitor" },
	{ 30, "pause" },      { 31, "secondary" }
};
static const struct bit_name proc2_bits[] = {
	{ 0, "apic-access" },	{ 1, "ept" },	      { 2, "desc-table" },   { 3, "rdtscp" },
	{ 4, "x2apic" },	{ 5, "vpid" },	      { 6, "wbinvd" },	     { 7, "unrestricted" },
	{ 8, "apic-reg-virt" }, { 9, "virt-intr" },   { 10, "pause-loop" },  { 11, "rdrand" },
	{ 12, "invpcid" },	{ 13, "vmfunc" },     { 14, "vmcs-shadow" }, { 16, "rdseed" },
	{ 17, "pml" },		{ 18, "ept-ve" },     { 20, "xsaves" },	     { 22, "mbec" },
	{ 23, "sub-page" },	{ 25, "tsc-scaling" }
};
static const struct bit_name exit_bits[] = { { 2, "save-debug" },   { 9, "host-64" },
					     { 12, "load-perf" },   { 15, "ack-intr" },
					     { 18, "save-pat" },    { 19, "load-pat" },
					     { 20, "save-efer" },   { 21, "load-efer" },
					     { 22, "save-preempt" } };
static const struct bit_name entry_bits[] = { { 2, "load-debug" }, { 9, "ia32e-guest" },
					      { 10, "smm" },	   { 13, "load-perf" },
					      { 14, "load-pat" },  { 15, "load-efer" } };
static const struct bit_name cr0_bits[] = { { 0, "PE" },  { 1, "MP" },	{ 2, "EM" },  { 3, "TS" },
					    { 4, "ET" },  { 5, "NE" },	{ 16, "WP" }, { 18, "AM" },
					    { 29, "NW" }, { 30, "CD" }, { 31, "PG" } };
static const struct bit_name cr4_bits[] = {
	{ 0, "VME" },	      { 1, "PVI" },   { 2, "TSD" },   { 3, "DE" },	  { 4, "PSE" },
	{ 5, "PAE" },	      { 6, "MCE" },   { 7, "PGE" },   { 8, "PCE" },	  { 9, "OSFXSR" },
	{ 10, "OSXMMEXCPT" }, { 11, "UMIP" }, { 13, "VMXE" }, { 16, "FSGSBASE" }, { 17, "PCIDE" },
	{ 18, "OSXSAVE" },    { 20, "SMEP" }, { 21, "SMAP" }, { 22, "PKE" }
};
static const struct bit_name efer_bits[] = {
	{ 0, "SCE" }, { 8, "LME" }, { 10, "LMA" }, { 11, "NXE" }
};
static const struct bit_name rflags_bits[] = {
	{ 0, "CF" },  { 2, "PF" },   { 4, "AF" },   { 6, "ZF" },  { 7, "SF" },	{ 8, "TF" },
	{ 9, "IF" },  { 10, "DF" },  { 11, "OF" },  { 14, "NT" }, { 16, "RF" }, { 17, "VM" },
	{ 18, "AC" }, { 19, "VIF" }, { 20, "VIP" }, { 21, "ID" }
};

/* "PE ET PG" for the set bits of v that t names; "-" when none. */
static const char *bit_words(uint64_t v, const struct bit_name *t, size_t n, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((v >> t[i].bit) & 1)
			at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s",
					       at ? " " : "", t[i].name);
	return buf[0] ? buf : "-";
}

#define WORDS(v, t) bit_words((v), BITS(t), words, sizeof(words))

static const char *const seg_names[VSEG_COUNT] = {
	"es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr"
};

/* Segment access rights (25.4.1 table 25-2): type, S, DPL, P, L, D/B, G, unusable. */
static void print_seg(const char *who, unsigned i, const struct vseg_state *s)
{
	uint32_t ar = s->ar;
	if (ar & (1u << 16)) {
		printk("dump %s:   %-4s %04x unusable\n", who, seg_names[i], s->sel);
		return;
	}
	printk("dump %s:   %-4s %04x base %016llx limit %08x ar %05x (type %u%s dpl %u%s%s%s%s)\n",
	       who, seg_names[i], s->sel, (unsigned long long)s->base, s->limit, ar, ar & 15,
	       (ar & (1u << 4)) ? " code/data" : " system", (ar >> 5) & 3,
	       (ar & (1u << 7)) ? " P" : " not-present", (ar & SEG_AR_L) ? " L" : "",
	       (ar & SEG_AR_DB) ? " D" : "", (ar & (1u << 15)) ? " G" : "");
}

static void print_gprs(const char *who, const struct vcpu_regs *r, uint64_t rsp)
{
	printk("dump %s:   rax %016llx rbx %016llx rcx %016llx rdx %016llx\n", who,
	       (unsigned long long)r->rax, (unsigned long long)r->rbx, (unsigned long long)r->rcx,
	       (unsigned long long)r->rdx);
	printk("dump %s:   rsi %016llx rdi %016llx rbp %016llx rsp %016llx\n", who,
	       (unsigned long long)r->rsi, (unsigned long long)r->rdi, (unsigned long long)r->rbp,
	       (unsigned long long)rsp);
	printk("dump %s:   r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n", who,
	       (unsigned long long)r->r8, (unsigned long long)r->r9, (unsigned long long)r->r10,
	       (unsigned long long)r->r11);
	printk("dump %s:   r12 %016llx r13 %016llx r14 %016llx r15 %016llx cr2 %016llx\n", who,
	       (unsigned long long)r->r12, (unsigned long long)r->r13, (unsigned long long)r->r14,
	       (unsigned long long)r->r15, (unsigned long long)r->cr2);
}

static void print_guest_state(const char *who, struct vcpu *v, const struct vcpu_state *s)
{
	char words[160];
	printk("dump %s: vCPU %u guest state: %s\n", who, v->index, vcpu_state_mode_words(s));
	printk("dump %s:   rip %016llx rflags %08llx (%s)\n", who, (unsigned long long)s->rip,
	       (unsigned long long)s->rflags, WORDS(s->rflags, rflags_bits));
	print_gprs(who, &v->regs, s->rsp);
	printk("dump %s:   cr0 %08llx (%s)\n", who, (unsigned long long)s->cr0,
	       WORDS(s->cr0, cr0_bits));
	printk("dump %s:   cr3 %016llx cr4 %08llx (%s)\n", who, (unsigned long long)s->cr3,
	       (unsigned long long)s->cr4, WORDS(s->cr4, cr4_bits));
	printk("dump %s:   efer %llx (%s) dr7 %llx\n", who, (unsigned long long)s->efer,
	       WORDS(s->efer, efer_bits), (unsigned long long)s->dr7);
	for (unsigned i = 0; i < VSEG_COUNT; i++)
		print_seg(who, i, &s->seg[i]);
	printk("dump %s:   gdtr %016llx/%x idtr %016llx/%x\n", who,
	       (unsigned long long)s->gdtr_base, s->gdtr_limit, (unsigned long long)s->idtr_base,
	       s->idtr_limit);
	printk("dump %s:   interruptibility %x (%s%s%s%s) activity %u (%s) pending-debug %llx\n",
	       who, s->interruptibility, (s->interruptibility & 1) ? "sti " : "",
	       (s->interruptibility & 2) ? "mov-ss " : "", (s->interruptibility & 8) ? "nmi " : "",
	       (s->interruptibility & 15) ? "blocking" : "none", s->activity,
	       s->activity == 0	  ? "active"
	       : s->activity == 1 ? "hlt"
	       : s->activity == 2 ? "shutdown"
				  : "wait-for-sipi",
	       (unsigned long long)s->pending_dbg);
}

static void print_controls(const char *who)
{
	char words[400];
	uint64_t pin = vmread(VMCS_PIN_CTLS), proc = vmread(VMCS_PROC_CTLS);
	uint64_t proc2 = vmread(VMCS_PROC2_CTLS), exit = vmread(VMCS_EXIT_CTLS);
	uint64_t entry = vmread(VMCS_ENTRY_CTLS);
	printk("dump %s: controls\n", who);
	printk("dump %s:   pin   %08llx %s\n", who, (unsigned long long)pin, WORDS(pin, pin_bits));
	printk("dump %s:   proc  %08llx %s\n", who, (unsigned long long)proc,
	       WORDS(proc, proc_bits));
	printk("dump %s:   proc2 %08llx %s\n", who, (unsigned long long)proc2,
	       WORDS(proc2, proc2_bits));
	printk("dump %s:   exit  %08llx %s\n", who, (unsigned long long)exit,
	       WORDS(exit, exit_bits));
	printk("dump %s:   entry %08llx %s\n", who, (unsigned long long)entry,
	       WORDS(entry, entry_bits));
	printk("dump %s:   exception bitmap %08llx, eptp %016llx, vpid %llu\n", who,
	       (unsigned long long)vmread(VMCS_EXCEPTION_BITMAP),
	       (unsigned long long)vmread(VMCS_EPT_POINTER), (unsigned long long)vmread(VMCS_VPID));
}

/* Event information fields (25.9.2, 25.9.3): valid bit 31, type 10:8, vector 7:0. */
static void print_event(const char *who, const char *what, uint32_t info)
{
	static const char *const types[8] = {
		"external interrupt", "reserved",	    "NMI",
		"hardware exception", "software interrupt", "privileged software exception",
		"software exception", "other event"
	};
	if (!(info >> 31))
		return;
	printk("dump %s:   %s: vector %u, %s%s\n", who, what, info & 0xFF, types[(info >> 8) & 7],
	       (info & (1u << 11)) ? ", with error code" : "");
}

static void print_exit_info(const char *who)
{
	uint32_t reason = (uint32_t)vmread(VMCS_EXIT_REASON);
	printk("dump %s: last exit: reason %u (%s)%s, qualification %llx, guest-physical %llx, "
	       "instruction length %llu\n",
	       who, reason & 0xFFFF, vmx_exit_reason_str(reason & 0xFFFF),
	       (reason & EXIT_REASON_ENTRY_FAIL) ? " VM-entry failure" : "",
	       (unsigned long long)vmread(VMCS_EXIT_QUAL),
	       (unsigned long long)vmread(VMCS_GUEST_PHYS_ADDR),
	       (unsigned long long)vmread(VMCS_EXIT_INSN_LEN));
	print_event(who, "exit interruption", (uint32_t)vmread(VMCS_EXIT_INTR_INFO));
	print_event(who, "IDT vectoring", (uint32_t)vmread(VMCS_IDT_VECTORING_INFO));
	print_event(who, "pending injection", (uint32_t)vmread(VMCS_ENTRY_INTR_INFO));
	uint32_t err = (uint32_t)vmread(VMCS_INSN_ERROR);
	if (err)
		printk("dump %s:   VM-instruction error %u: %s\n", who, err,
		       vmx_insn_error_str(err));
}

void dump_vmcs(struct vcpu *v)
{
	struct vcpu_state s;
	const char *who = v->guest->name;
	vcpu_state_read(&s);
	print_guest_state(who, v, &s);
	print_controls(who);
	print_exit_info(who);
}

/* ---- EPT ranges */

#define RANGE_BATCH 16 /* ranges collected under one cursor */

struct range_batch {
	struct dump_range r[RANGE_BATCH];
	unsigned count;
};

/* Adds [start, end) of leaf it to the batch: extends the last range or starts one.
 * False: the batch is full. */
static bool batch_add(struct range_batch *b, const struct pt_item *it, uint64_t start, uint64_t end)
{
	uint16_t rights = it->prop.flags & (PT_PROP_R | PT_PROP_W | PT_PROP_X);
	uint16_t ad = it->prop.flags & (PT_PROP_ACCESSED | PT_PROP_DIRTY);
	struct dump_range *last = b->count ? &b->r[b->count - 1] : NULL;
	if (last && last->end == start && last->rights == rights && last->leaf == it->size) {
		last->end = end;
		last->accessed |= ad;
		return true;
	}
	if (b->count == RANGE_BATCH)
		return false;
	b->r[b->count++] = (struct dump_range){ .start = start,
						.end = end,
						.rights = rights,
						.accessed = ad,
						.leaf = (uint32_t)it->size };
	return true;
}

/*
 * Collects the leaves from *pos up to end into b under one cursor (a huge leaf that
 * starts before *pos or ends after end is clipped); *pos moves past the leaves taken,
 * to end when no leaf is left. A range may continue in the next batch.
 */
static int collect_batch(struct guest *g, uint64_t *pos, uint64_t end, struct range_batch *b)
{
	struct pt_flush_batch fb;
	struct pt_cursor c;
	struct pt_item it;
	pt_flush_batch_init(&fb, NULL, NULL); /* nothing is removed: nothing to flush */
	int err = pt_cursor_begin(&c, &g->space.table, VA(*pos), VA(end), &fb);
	if (err)
		return err;
	b->count = 0;
	while (*pos < end) {
		if (pt_cursor_find_next(&c, end - *pos, &it)) {
			*pos = end; /* -ENOENT: no leaf left in the window */
			break;
		}
		uint64_t s = MAX(it.va.v, *pos), e = MIN(it.va.v + it.size, end);
		if (!batch_add(b, &it, s, e))
			break;
		*pos = e;
		if (*pos >= end || pt_cursor_jump(&c, VA(*pos)))
			break;
	}
	pt_cursor_end(&c);
	pt_flush_batch_finish(&fb);
	return 0;
}

int dump_ept_ranges(struct guest *g, gpa_t start, uint64_t len, dump_range_fn fn, void *ctx)
{
	uint64_t pos = start.v, end = len ? start.v + len : g->mem;
	struct range_batch b;
	struct dump_range pending = { 0 };
	int count = 0;
	if ((pos | end) & (PAGE_SIZE - 1) || end <= pos || end > g->mem)
		return -EINVAL;
	while (pos < end) {
		int err = collect_batch(g, &pos, end, &b);
		if (err)
			return err;
		for (unsigned i = 0; i < b.count; i++) {
			struct dump_range *r = &b.r[i];
			if (pending.end == r->start && pending.rights == r->rights &&
			    pending.leaf == r->leaf && pending.end) {
				pending.end = r->end;
				pending.accessed |= r->accessed;
				continue;
			}
			if (pending.end && fn && (err = fn(&pending, ctx)))
				return err;
			count += pending.end != 0;
			pending = *r;
		}
	}
	if (pending.end) {
		count++;
		if (fn) {
			int err = fn(&pending, ctx);
			if (err)
				return err;
		}
	}
	return count;
}

static const char *leaf_words(uint32_t leaf)
{
	return leaf == SIZE_1G ? "1G" : leaf == SIZE_2M ? "2M" : "4K";
}

static int print_range(const struct dump_range *r, void *ctx)
{
	const char *who = ctx;
	printk("dump %s:   %012llx-%012llx %c%c%c %s x%llu%s%s\n", who,
	       (unsigned long long)r->start, (unsigned long long)r->end,
	       (r->rights & PT_PROP_R) ? 'r' : '-', (r->rights & PT_PROP_W) ? 'w' : '-',
	       (r->rights & PT_PROP_X) ? 'x' : '-', leaf_words(r->leaf),
	       (unsigned long long)((r->end - r->start) / r->leaf),
	       (r->accessed & PT_PROP_ACCESSED) ? " accessed" : "",
	       (r->accessed & PT_PROP_DIRTY) ? " dirty" : "");
	return 0;
}

static void dump_ept_header(struct guest *g, gpa_t start, uint64_t len)
{
	printk(
	    "dump %s: EPT mappings in [%llx, %llx) (guest-physical, rights, leaf size x count)\n",
	    g->name, (unsigned long long)start.v,
	    (unsigned long long)(len ? start.v + len : g->mem));
}

static void dump_ept_footer(struct guest *g, int n)
{
	if (n < 0)
		printk("dump %s:   cannot walk: error %d\n", g->name, n);
	else
		printk("dump %s:   %d range(s)\n", g->name, n);
}

int dump_ept(struct guest *g, gpa_t start, uint64_t len)
{
	dump_ept_header(g, start, len);
	int n = dump_ept_ranges(g, start, len, print_range, g->name);
	dump_ept_footer(g, n);
	return n;
}

/* ---- Exit statistics */

void dump_exits(struct guest *g)
{
	for (unsigned i = 0; i < g->vcpu_count; i++) {
		const struct vcpu *v = &g->vcpus[i];
		printk("dump %s: vCPU %u: %llu exits, %llu hypercalls, %llu slices, %llu CPU "
		       "moves, %llu interrupts injected\n",
		       g->name, i, (unsigned long long)v->exit_total,
		       (unsigned long long)v->hypercall_count, (unsigned long long)v->slices,
		       (unsigned long long)v->migrations, (unsigned long long)v->irqs_injected);
		for (unsigned r = 0; r < EXIT_REASON_COUNT; r++)
			if (v->exit_count[r])
				printk("dump %s:   %-28s %llu\n", g->name, vmx_exit_reason_str(r),
				       (unsigned long long)v->exit_count[r]);
	}
}

void dump_guest(struct vcpu *v, unsigned what)
{
	if (what & DUMP_VMCS)
		dump_vmcs(v);
	if (what & DUMP_EPT)
		(void)dump_ept(v->guest, GPA(0), 0);
	if (what & DUMP_EXITS)
		dump_exits(v->guest);
}

/* Where the hypercall's ranges go: 3 words each into a pinned guest buffer. */
struct range_out {
	const char *who;
	struct vm_pin *pin;
	uint64_t written, cap; /* ranges */
	bool fault;
};

static int range_to_guest(const struct dump_range *r, void *ctx)
{
	struct range_out *o = ctx;
	uint64_t w[3] = { r->start, r->end, r->leaf | r->rights };
	(void)print_range(r, (void *)o->who);
	if (o->written < o->cap && vm_pin_write(o->pin, o->written * sizeof(w), w, sizeof(w)) == 0)
		o->written++;
	return 0;
}

int64_t dump_for_guest(struct vcpu *v, unsigned what, struct vm_pin *out)
{
	struct guest *g = v->guest;
	struct range_out o = { .who = g->name, .pin = out, .cap = out ? out->len / 24 : 0 };
	int64_t ranges = 0;
	if (what & DUMP_VMCS)
		dump_vmcs(v);
	if (what & DUMP_EPT) {
		dump_ept_header(g, GPA(0), 0);
		ranges = dump_ept_ranges(g, GPA(0), 0, range_to_guest, &o);
		dump_ept_footer(g, (int)ranges);
	}
	if (what & DUMP_EXITS)
		dump_exits(v->guest);
	return ranges;
}

/* Is name in the comma-separated list? */
static bool name_listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && !strncmp(p, name, n))
			return true;
		p += len + (comma != NULL);
	}
	return false;
}

void dump_at_end(struct vcpu *v, bool vmcs_current)
{
	struct guest *g = v->guest;
	char list[128];
	bool asked = cmdline_get_str("dump", list, sizeof(list)) && name_listed(list, g->name);
	if (!guest_ended(g) || (g->state != GUEST_KILLED && !asked))
		return;
	if (__atomic_exchange_n(&g->dumped, true, __ATOMIC_ACQ_REL))
		return;
	printk("dump %s: %s\n", g->name,
	       g->state == GUEST_KILLED ? "killed: dump of its last state" : "dump at its end");
	dump_guest(v, DUMP_ALL & (vmcs_current ? DUMP_ALL : ~DUMP_VMCS));
}
