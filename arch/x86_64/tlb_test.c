/*
 * TLB tags and shootdowns on real x86-64 paging (kernel/mm/tlb.c, vm_space_x86.c):
 * host spaces with their own PCIDs switched without flushing, flushes of a space that
 * is not the current one (INVPCID individual-address, or a stale mark that makes the
 * next load flush), the lazy flush of a CPU that missed a dispatch, and edits of the
 * kernel table reaching every CPU, and the gate that keeps kernel-table flushes and
 * CPU bring-up apart. Each test checks what a CPU reads through its TLB: with a missing
 * INVLPG, CR4.PGE toggle or shootdown the emulators keep the old translation and the
 * test fails.
 *
 * Which flush path ran is checked too, per mode (host_tlb_caps: INVPCID; PCIDs without
 * INVPCID, by CPU or pcid=noinvpcid; no PCIDs, by CPU or pcid=off): the tests
 * single-step the flushing code (tlb_trace) and count the TLB instructions it executes
 * (INVPCID by type, INVLPG, MOV to CR4) and the values it writes to CR3. Reads alone
 * cannot tell: neither emulator models PCID-tagged TLB entries (Bochs 2.7 and QEMU 7.2
 * TCG drop every non-global entry at each CR3 write, bit 63 or not), so a missing PCID
 * flush would not show as a stale read. scripts/test-all.sh runs these tests in every
 * mode (the bochs-Ncpu and tlb-* layers).
 */
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/cmdline.h>
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/ktest.h>
#include <keel/smp.h>
#include <keel/string.h>
#include <keel/time.h>
#include <mm/tlb.h>
#include <mm/vm_space.h>

#include "kmap.h"

#define TEST_VA 0x400000ull
#define USER_RW PT_PROP(PT_PROP_R | PT_PROP_W | PT_PROP_USER)
/* Under the kernel image's top-level entry (PML4 511), below the image (PDPT 510). */
#define KTEST_VA 0xFFFFFFFF00000000ull
#define KERNEL_RW PT_PROP(PT_PROP_R | PT_PROP_W | PT_PROP_GLOBAL)

/* Two host spaces mapping TEST_VA to two frames holding different values. */
struct two_spaces {
	struct vm_space s[2];
	struct frame *f[2];
};

static int two_spaces_init(struct two_spaces *t)
{
	for (unsigned i = 0; i < 2; i++) {
		t->f[i] = frame_alloc(0, FRAME_USER);
		if (!t->f[i])
			return -ENOMEM;
		*(volatile uint64_t *)frame_kva(t->f[i]) = 0xA0 + i;
		int err = vm_space_init(&t->s[i], VM_SPACE_HOST_USER, 0);
		if (!err)
			err = vm_space_map(&t->s[i], VA(TEST_VA), PAGE_SIZE, frame_pa(t->f[i]),
					   USER_RW);
		if (err)
			return err;
	}
	return 0;
}

static void two_spaces_fini(struct two_spaces *t)
{
	for (unsigned i = 0; i < 2; i++) {
		vm_space_fini(&t->s[i]);
		if (frame_put(t->f[i]))
			frame_free(t->f[i], 0);
	}
}

/* Reads TEST_VA: its value, or ~0 if the read faulted. */
static uint64_t read_test_va(void)
{
	uint64_t v;
	return probe_read_u64((const void *)TEST_VA, &v) ? ~0ull : v;
}

/* ---- tlb_trace: which TLB instructions a piece of code executes */

/*
 * Runs fn(arg) on this CPU with RFLAGS.TF set: a single-step #DB after each instruction
 * (SDM Vol 3A 18.3.1.4), taken by a debug gate swapped into the IDT for the time of the
 * call. Interrupt and exception handlers run untraced (their gates clear TF; IRET sets
 * it again). The step handler decodes the next instruction before it executes, so the
 * saved registers are its operands.
 */
#define TRACE_MAX_STEPS 2000000ul
#define TRACE_CR3_KEPT 4
#define CR3_NOFLUSH (1ull << 63)

struct tlb_trace {
	unsigned long steps;
	bool overflow;		      /* stopped after TRACE_MAX_STEPS */
	unsigned invpcid[4];	      /* INVPCID by type: address, single, all+global, all */
	unsigned invlpg;	      /* INVLPG */
	unsigned cr4_writes;	      /* MOV to CR4 (a CR4.PGE toggle is two) */
	unsigned cr3_writes;	      /* MOV to CR3 */
	uint64_t cr3[TRACE_CR3_KEPT]; /* the first values written to CR3 */
};

static struct tlb_trace *volatile tlb_tracing;

void tlb_trace_step(struct trap_frame *tf);
extern const char tlb_trace_db_entry[];

/* The #DB gate while tracing: the frame of isr.asm (struct trap_frame), then IRET. */
__asm__(".pushsection .text\n"
	".balign 16\n"
	"tlb_trace_db_entry:\n"
	"	pushq $0\n" /* error code */
	"	pushq $1\n" /* vector */
	"	cld\n"
	"	push %rax\n push %rbx\n push %rcx\n push %rdx\n"
	"	push %rsi\n push %rdi\n push %rbp\n push %r8\n"
	"	push %r9\n push %r10\n push %r11\n push %r12\n"
	"	push %r13\n push %r14\n push %r15\n"
	"	pushq $0\n pushq $0\n" /* pad, gs_swapped: kernel mode only */
	"	mov %rsp, %rdi\n"
	"	call tlb_trace_step\n"
	"	add $16, %rsp\n"
	"	pop %r15\n pop %r14\n pop %r13\n pop %r12\n"
	"	pop %r11\n pop %r10\n pop %r9\n pop %r8\n"
	"	pop %rbp\n pop %rdi\n pop %rsi\n pop %rdx\n"
	"	pop %rcx\n pop %rbx\n pop %rax\n"
	"	add $16, %rsp\n"
	"	iretq\n"
	".popsection\n");

/* General register number r (ModRM encoding, REX extended) in the frame. */
static uint64_t frame_gpr(const struct trap_frame *tf, unsigned r)
{
	const uint64_t regs[16] = { tf->rax, tf->rcx, tf->rdx, tf->rbx, tf->rsp, tf->rbp,
				    tf->rsi, tf->rdi, tf->r8,  tf->r9,	tf->r10, tf->r11,
				    tf->r12, tf->r13, tf->r14, tf->r15 };
	return regs[r & 15];
}

/*
 * Counts the instruction at tf->rip if it is one of (SDM Vol 2): MOV CRn, r64
 * (0F 22 /r), INVLPG m (0F 01 /7, memory operand), INVPCID r64, m128 (66 0F 38 82 /r).
 */
void tlb_trace_step(struct trap_frame *tf)
{
	struct tlb_trace *tr = tlb_tracing;
	const uint8_t *p = (const uint8_t *)tf->rip;
	bool opsize = false;
	unsigned rex = 0;

	if (!tr)
		return;
	if (++tr->steps > TRACE_MAX_STEPS) {
		tr->overflow = true;
		tf->rflags &= ~RFLAGS_TF;
		return;
	}
	for (;; p++) {
		if (*p == 0x66)
			opsize = true;
		else if (*p != 0xF0 && *p != 0xF2 && *p != 0xF3 && *p != 0x2E && *p != 0x36 &&
			 *p != 0x3E && *p != 0x26 && *p != 0x64 && *p != 0x65 && *p != 0x67)
			break;
	}
	if ((*p & 0xF0) == 0x40)
		rex = *p++;
	if (p[0] != 0x0F)
		return;
	unsigned modrm = p[2], reg = ((modrm >> 3) & 7) | (rex & 4 ? 8 : 0);
	if (p[1] == 0x22 && reg == 3) {
		if (tr->cr3_writes < TRACE_CR3_KEPT)
			tr->cr3[tr->cr3_writes] = frame_gpr(tf, (modrm & 7) | (rex & 1 ? 8 : 0));
		tr->cr3_writes++;
	} else if (p[1] == 0x22 && reg == 4) {
		tr->cr4_writes++;
	} else if (p[1] == 0x01 && (modrm >> 6) != 3 && ((modrm >> 3) & 7) == 7) {
		tr->invlpg++;
	} else if (opsize && p[1] == 0x38 && p[2] == 0x82) {
		uint64_t type = frame_gpr(tf, ((p[3] >> 3) & 7) | (rex & 4 ? 8 : 0));
		tr->invpcid[type < 4 ? type : 3]++;
	}
}

struct idt_ptr {
	uint16_t limit;
	uint64_t base;
} __packed;

static void tlb_trace(struct tlb_trace *tr, void (*fn)(void *), void *arg)
{
	struct idt_ptr idtr;
	__asm__ __volatile__("sidt %0" : "=m"(idtr));
	volatile uint64_t *gate = (volatile uint64_t *)(idtr.base + 16); /* vector 1 */
	uint64_t saved[2] = { gate[0], gate[1] }, off = (uint64_t)tlb_trace_db_entry;

	memset(tr, 0, sizeof(*tr));
	tlb_tracing = tr;
	/* Same selector, IST and type; the handler's offset (SDM Vol 3A 6.14.1). */
	gate[1] = off >> 32;
	gate[0] =
	    (saved[0] & 0x0000FFFFFFFF0000ull) | (off & 0xFFFF) | ((off >> 16 & 0xFFFF) << 48);
	__asm__ __volatile__("pushfq; orq %0, (%%rsp); popfq" ::"i"(RFLAGS_TF) : "cc", "memory");
	fn(arg);
	__asm__ __volatile__("pushfq; andq %0, (%%rsp); popfq" ::"i"(~RFLAGS_TF) : "cc", "memory");
	tlb_tracing = NULL;
	gate[0] = saved[0];
	gate[1] = saved[1];
	__asm__ __volatile__("mov %0, %%dr6" ::"r"(0xFFFF0FF0ull)); /* DR6.BS is sticky */
}

static unsigned invpcid_count(const struct tlb_trace *tr)
{
	return tr->invpcid[0] + tr->invpcid[1] + tr->invpcid[2] + tr->invpcid[3];
}

/*
 * What loading s writes to CR3: its root and PCID, with bit 63 (keep the PCID's
 * entries, SDM Vol 3A 4.10.4.1) when keep and s is tagged. Untagged spaces (no PCIDs)
 * always load flushing.
 */
static uint64_t cr3_of(struct vm_space *s, bool keep)
{
	uint64_t v = vm_space_root_pa(s).v | s->tag;
	return keep && s->tag ? v | CR3_NOFLUSH : v;
}

/* The same mode as host_tlb_caps, computed from CPUID and pcid= (init.c decides). */
static void expected_caps(bool *pcid, bool *invpcid)
{
	uint32_t a, b, c, d, max;
	char opt[16] = "auto";
	cpuid(0, 0, &max, &b, &c, &d);
	cpuid(1, 0, &a, &b, &c, &d);
	*pcid = c & (1u << 17);
	*invpcid = false;
	if (max >= 7) {
		cpuid(7, 0, &a, &b, &c, &d);
		*invpcid = b & (1u << 10);
	}
	(void)cmdline_get_str("pcid", opt, sizeof(opt));
	*pcid = *pcid && strcmp(opt, "off");
	*invpcid = *invpcid && *pcid && strcmp(opt, "noinvpcid");
}

static void read_cr4_here(void *arg)
{
	((volatile uint64_t *)arg)[arch_cpu_id()] = read_cr4();
}

/*
 * The mode in use is the one the CPU and the command line ask for, and every CPU runs
 * with CR4.PCIDE accordingly (APs copy the boot CPU's CR4). The tlb-* test layers check
 * the boot line that names it.
 */
KTEST(tlb_pcid_mode_follows_cpuid_and_option)
{
	bool pcid, invpcid;
	volatile uint64_t cr4[MAX_CPUS] = { 0 };
	expected_caps(&pcid, &invpcid);
	unsigned n = smp_call(smp_online_mask(), read_cr4_here, (void *)cr4, true);
	KT_ASSERT_EQ(host_tlb_caps.pcid, pcid);
	KT_ASSERT_EQ(host_tlb_caps.invpcid, invpcid);
	KT_ASSERT_EQ(n, smp_cpu_online_count());
	for (unsigned cpu = 0; cpu < n; cpu++)
		KT_ASSERT_EQ(!!(cr4[cpu] & CR4_PCIDE), pcid);
	KT_ASSERT_EQ(arch_vm_space_tag_count(VM_SPACE_HOST_USER),
		     pcid ? VM_SPACE_TAG_COUNT_MAX : 0);
}

/* This CPU leaves `from` (may be NULL) for `to` and reads TEST_VA there. */
static uint64_t switch_and_read(struct vm_space *from, struct vm_space *to)
{
	if (from)
		vm_space_deactivate(from);
	vm_space_activate(to);
	return read_test_va();
}

struct switch_args {
	struct vm_space *from, *to;
};

static void switch_spaces(void *arg)
{
	struct switch_args *a = arg;
	if (a->from)
		vm_space_deactivate(a->from);
	vm_space_activate(a->to);
}

/* Traces this CPU's switch from `from` (may be NULL) to `to`, then reads TEST_VA. */
static uint64_t traced_switch_and_read(struct vm_space *from, struct vm_space *to,
				       struct tlb_trace *tr)
{
	struct switch_args a = { from, to };
	tlb_trace(tr, switch_spaces, &a);
	return read_test_va();
}

/* With PCIDs each host space has its own; without, all are untagged (PCID 0). */
KTEST(tlb_host_space_tags_in_cr3_follow_pcid_mode)
{
	struct two_spaces ts;
	KT_ASSERT_EQ(two_spaces_init(&ts), 0);
	uint64_t tag0 = ts.s[0].tag, tag1 = ts.s[1].tag;
	vm_space_activate(&ts.s[1]);
	uint64_t cr3 = read_cr3(), root1 = vm_space_root_pa(&ts.s[1]).v;
	vm_space_deactivate(&ts.s[1]);
	two_spaces_fini(&ts);
	KT_ASSERT_EQ(cr3 & ~0xFFFull, root1);
	KT_ASSERT_EQ(!!(read_cr4() & CR4_PCIDE), host_tlb_caps.pcid);
	if (!host_tlb_caps.pcid) {
		KT_ASSERT_EQ(tag0 | tag1, 0);
		KT_ASSERT_EQ(cr3 & 0xFFF, 0);
		return;
	}
	KT_ASSERT(tag0 && tag1 && tag0 != tag1 && tag0 < 4096 && tag1 < 4096);
	KT_ASSERT_EQ(cr3 & 0xFFF, tag1);
}

/*
 * Switching back and forth without flushing: each space sees its own frame at the same
 * address. Were both under one PCID, the no-flush load would keep the other's entry.
 * Each switch is one CR3 write: root | PCID | bit 63 with PCIDs, the bare root (which
 * flushes) without; never an INVPCID.
 */
KTEST(tlb_noflush_switch_keeps_each_space_own_translation)
{
	struct two_spaces ts;
	struct tlb_trace tr;
	uint64_t seen[6];
	KT_ASSERT_EQ(two_spaces_init(&ts), 0);
	seen[0] = switch_and_read(NULL, &ts.s[0]);
	for (unsigned i = 1; i < 5; i++)
		seen[i] = switch_and_read(&ts.s[(i - 1) % 2], &ts.s[i % 2]);
	seen[5] = traced_switch_and_read(&ts.s[0], &ts.s[1], &tr);
	uint64_t want_cr3 = cr3_of(&ts.s[1], true);
	vm_space_deactivate(&ts.s[1]);
	uint64_t full = ts.s[0].stats.full_flush_count + ts.s[1].stats.full_flush_count;
	two_spaces_fini(&ts);
	for (unsigned i = 0; i < 6; i++)
		KT_ASSERT_EQ(seen[i], 0xA0 + i % 2);
	KT_ASSERT_EQ(full, 0); /* no dispatch: no CPU needed a full flush */
	KT_ASSERT(!tr.overflow);
	KT_ASSERT_EQ(tr.cr3_writes, 1);
	KT_ASSERT_EQ(tr.cr3[0], want_cr3);
	KT_ASSERT_EQ(invpcid_count(&tr), 0);
	KT_ASSERT_EQ(tr.cr4_writes, 0);
}

struct unmap_args {
	struct vm_space *s;
	uint64_t va;
	int err;
};

static void unmap_page(void *arg)
{
	struct unmap_args *a = arg;
	a->err = vm_space_unmap(a->s, VA(a->va), PAGE_SIZE, 0);
}

/*
 * Space 0 is cached here (ran, then space 1 was loaded without flushing); an unmap in
 * space 0 from here flushes the page now, so switching back faults instead of using
 * the old entry. The path depends on the mode: INVPCID individual-address for space
 * 0's PCID, then a load that keeps its entries; without INVPCID a stale mark, so the
 * load flushes (bit 63 clear); without PCIDs nothing at the unmap, and the load
 * flushes as always.
 */
KTEST(tlb_unmap_in_noncurrent_space_faults_after_switch_back)
{
	struct two_spaces ts;
	struct tlb_trace unmap_tr, load_tr;
	KT_ASSERT_EQ(two_spaces_init(&ts), 0);
	uint64_t before = switch_and_read(NULL, &ts.s[0]);
	uint64_t other = switch_and_read(&ts.s[0], &ts.s[1]);
	uint64_t ranges = ts.s[0].stats.range_flush_count;
	struct unmap_args u = { &ts.s[0], TEST_VA, -1 };
	tlb_trace(&unmap_tr, unmap_page, &u);
	ranges = ts.s[0].stats.range_flush_count - ranges;
	uint64_t after = traced_switch_and_read(&ts.s[1], &ts.s[0], &load_tr);
	uint64_t lazy = ts.s[0].stats.lazy_flush_count;
	uint64_t want_cr3 = cr3_of(&ts.s[0], host_tlb_caps.invpcid);
	vm_space_deactivate(&ts.s[0]);
	two_spaces_fini(&ts);
	KT_ASSERT_EQ(before, 0xA0);
	KT_ASSERT_EQ(other, 0xA1);
	KT_ASSERT_EQ(u.err, 0);
	KT_ASSERT_EQ(after, ~0ull);
	KT_ASSERT_EQ(ranges, 1); /* flushed here at once, not at the next activation */
	KT_ASSERT_EQ(lazy, 0);
	KT_ASSERT(!unmap_tr.overflow && !load_tr.overflow);
	KT_ASSERT_EQ(unmap_tr.invpcid[0], host_tlb_caps.invpcid ? 1 : 0);
	KT_ASSERT_EQ(invpcid_count(&unmap_tr), unmap_tr.invpcid[0]);
	KT_ASSERT_EQ(unmap_tr.cr3_writes, 0);
	KT_ASSERT_EQ(unmap_tr.invlpg, 0); /* space 0 is not loaded here */
	KT_ASSERT_EQ(invpcid_count(&load_tr), 0);
	KT_ASSERT_EQ(load_tr.cr3_writes, 1);
	KT_ASSERT_EQ(load_tr.cr3[0], want_cr3);
}

struct remote {
	struct two_spaces *t;
	volatile uint64_t val;
	uint64_t kva;
	struct tlb_trace tr;
};

static void remote_run_space0(void *arg)
{
	struct remote *r = arg;
	r->val = switch_and_read(NULL, &r->t->s[0]);
}

static void remote_switch_to_space1(void *arg)
{
	struct remote *r = arg;
	r->val = switch_and_read(&r->t->s[0], &r->t->s[1]);
}

static void remote_switch_to_space0(void *arg)
{
	struct remote *r = arg;
	r->val = traced_switch_and_read(&r->t->s[1], &r->t->s[0], &r->tr);
	vm_space_deactivate(&r->t->s[0]);
}

/*
 * The lazy flush across CPUs: CPU 1 ran space 0 and went on to space 1 (keeping space
 * 0's entries under its PCID); CPU 0 unmaps in space 0 and sends nothing to CPU 1 (it
 * does not run it); CPU 1's return to space 0 must flush it in full and fault: INVPCID
 * single-context and a load that keeps the (now empty) PCID; without INVPCID a
 * flushing load; without PCIDs the load flushes anyway.
 */
KTEST(tlb_cpu_that_missed_unmap_flushes_at_activation)
{
	if (smp_cpu_online_count() < 2)
		KT_SKIP("needs 2 CPUs");
	struct two_spaces ts;
	struct remote r = { .t = &ts };
	KT_ASSERT_EQ(two_spaces_init(&ts), 0);
	smp_call(cpumask_of(1), remote_run_space0, &r, true);
	uint64_t first = r.val;
	smp_call(cpumask_of(1), remote_switch_to_space1, &r, true);
	uint64_t calls = ts.s[0].stats.call_count;
	int unmap = vm_space_unmap(&ts.s[0], VA(TEST_VA), PAGE_SIZE, 0);
	calls = ts.s[0].stats.call_count - calls;
	smp_call(cpumask_of(1), remote_switch_to_space0, &r, true);
	uint64_t after = r.val, lazy = ts.s[0].stats.lazy_flush_count;
	uint64_t want_cr3 = cr3_of(&ts.s[0], host_tlb_caps.invpcid);
	two_spaces_fini(&ts);
	KT_ASSERT_EQ(first, 0xA0);
	KT_ASSERT_EQ(unmap, 0);
	KT_ASSERT_EQ(after, ~0ull);
	KT_ASSERT_EQ(calls, 0);
	KT_ASSERT_EQ(lazy, 1);
	KT_ASSERT(!r.tr.overflow);
	KT_ASSERT_EQ(r.tr.invpcid[1], host_tlb_caps.invpcid ? 1 : 0);
	KT_ASSERT_EQ(invpcid_count(&r.tr), r.tr.invpcid[1]);
	KT_ASSERT_EQ(r.tr.cr3_writes, 1);
	KT_ASSERT_EQ(r.tr.cr3[0], want_cr3);
}

/* ---- kernel table edits after boot */

static void remote_read_kva(void *arg)
{
	struct remote *r = arg;
	uint64_t v;
	r->val = probe_read_u64((const void *)r->kva, &v) ? ~0ull : v;
}

static uint64_t read_on(unsigned cpu, struct remote *r)
{
	smp_call(cpumask_of(cpu), remote_read_kva, r, true);
	return r->val;
}

struct kunmap_args {
	uint64_t va, len;
	int err;
};

static void kernel_unmap(void *arg)
{
	struct kunmap_args *a = arg;
	a->err = vm_space_unmap(&kernel_space, VA(a->va), a->len, 0);
}

/*
 * A global kernel page read (and so cached) by every other CPU is remapped to another
 * frame, then unmapped page by page (INVLPG: drops global entries under every PCID),
 * then mapped again and its whole 1 GiB window unmapped (nodes freed: full flush with
 * global entries: INVPCID all-context, or without INVPCID a CR4.PGE toggle). Every CPU
 * must see each change. This CPU's part of the flushes is traced.
 */
KTEST(tlb_kernel_table_edit_reaches_every_cpu)
{
	unsigned n = smp_cpu_online_count();
	if (n < 2)
		KT_SKIP("needs 2 CPUs");
	struct frame *f[2] = { frame_alloc(0, FRAME_KERNEL), frame_alloc(0, FRAME_KERNEL) };
	KT_ASSERT(f[0] && f[1]);
	*(volatile uint64_t *)frame_kva(f[0]) = 0xC0;
	*(volatile uint64_t *)frame_kva(f[1]) = 0xC1;
	struct remote r = { .kva = KTEST_VA };
	struct vm_space *k = &kernel_space;
	struct tlb_trace page_tr, window_tr;
	struct kunmap_args page = { KTEST_VA, PAGE_SIZE, -1 };
	struct kunmap_args window = { ALIGN_DOWN(KTEST_VA, SIZE_1G), SIZE_1G, -1 };
	uint64_t seen[MAX_CPUS][4] = { 0 };
	uint64_t full = k->stats.full_flush_count, ranges = k->stats.range_flush_count;
	int err[3];

	err[0] = vm_space_map(k, VA(KTEST_VA), PAGE_SIZE, frame_pa(f[0]), KERNEL_RW);
	for (unsigned cpu = 1; cpu < n; cpu++)
		seen[cpu][0] = read_on(cpu, &r);
	err[1] = vm_space_unmap(k, VA(KTEST_VA), PAGE_SIZE, 0);
	err[2] = vm_space_map(k, VA(KTEST_VA), PAGE_SIZE, frame_pa(f[1]), KERNEL_RW);
	for (unsigned cpu = 1; cpu < n; cpu++)
		seen[cpu][1] = read_on(cpu, &r);
	tlb_trace(&page_tr, kernel_unmap, &page);
	for (unsigned cpu = 1; cpu < n; cpu++)
		seen[cpu][2] = read_on(cpu, &r);
	ranges = k->stats.range_flush_count - ranges;
	KT_ASSERT_EQ(vm_space_map(k, VA(KTEST_VA), PAGE_SIZE, frame_pa(f[0]), KERNEL_RW), 0);
	for (unsigned cpu = 1; cpu < n; cpu++)
		(void)read_on(cpu, &r);
	tlb_trace(&window_tr, kernel_unmap, &window);
	for (unsigned cpu = 1; cpu < n; cpu++)
		seen[cpu][3] = read_on(cpu, &r);
	full = k->stats.full_flush_count - full;
	frame_free(f[0], 0);
	frame_free(f[1], 0);
	for (unsigned i = 0; i < 3; i++)
		KT_ASSERT_EQ(err[i], 0);
	KT_ASSERT_EQ(page.err, 0);
	KT_ASSERT_EQ(window.err, 0);
	for (unsigned cpu = 1; cpu < n; cpu++) {
		KT_ASSERT_EQ(seen[cpu][0], 0xC0);
		KT_ASSERT_EQ(seen[cpu][1], 0xC1);
		KT_ASSERT_EQ(seen[cpu][2], ~0ull);
		KT_ASSERT_EQ(seen[cpu][3], ~0ull);
	}
	KT_ASSERT_EQ(ranges, 2 * n); /* two single-page dispatches, on every CPU */
	KT_ASSERT_EQ(full, n);	     /* the window's nodes went: one full flush per CPU */
	KT_ASSERT(!page_tr.overflow && !window_tr.overflow);
	/* single page: INVLPG here, in every mode */
	KT_ASSERT_EQ(page_tr.invlpg, 1);
	KT_ASSERT_EQ(invpcid_count(&page_tr), 0);
	KT_ASSERT_EQ(page_tr.cr3_writes + page_tr.cr4_writes, 0);
	/* the window: one full flush here, global entries included */
	KT_ASSERT_EQ(window_tr.invpcid[2], host_tlb_caps.invpcid ? 1 : 0);
	KT_ASSERT_EQ(invpcid_count(&window_tr), window_tr.invpcid[2]);
	KT_ASSERT_EQ(window_tr.cr4_writes, host_tlb_caps.invpcid ? 0 : 2);
	KT_ASSERT_EQ(window_tr.cr3_writes, 0);
}

/* ---- the bring-up gate (tlb.h): kernel-table flushes vs a CPU coming online */

#define GATE_WAIT_NS (2 * NSEC_PER_SEC) /* bounds the waits: a broken gate fails, not hangs */

/* A kernel-table unmap run by another CPU as idle work (interrupts on, as the rule asks). */
struct gate_edit {
	uint64_t va;
	int err;
	uint32_t done; /* [a] */
};

static void gate_edit_unmap(void *arg)
{
	struct gate_edit *e = arg;
	e->err = vm_space_unmap(&kernel_space, VA(e->va), PAGE_SIZE, 0);
	__atomic_store_n(&e->done, 1, __ATOMIC_RELEASE);
}

static bool gate_edit_done(struct gate_edit *e)
{
	return __atomic_load_n(&e->done, __ATOMIC_ACQUIRE);
}

static void gate_edit_wait(struct gate_edit *e)
{
	uint64_t t0 = time_ns();
	while (!gate_edit_done(e) && time_ns() - t0 < GATE_WAIT_NS)
		arch_cpu_relax();
}

/* Frees the page once the unmap is done; a failed test leaves it mapped (and leaks). */
static void gate_edit_free(struct gate_edit *e, struct frame *f)
{
	if (gate_edit_done(e) && e->err == 0)
		frame_free(f, 0);
}

/*
 * No CPU can be re-onlined, so these tests close the gate exactly as ap_start does,
 * without starting a CPU. While it is closed, CPU 1's kernel-table unmap must wait in
 * its flush (it cannot return); once it opens, the unmap completes and its flush
 * reaches CPU 1, which had the page cached.
 */
KTEST(tlb_kernel_flush_waits_while_cpu_comes_online)
{
	if (smp_cpu_online_count() < 2)
		KT_SKIP("needs 2 CPUs");
	struct frame *f = frame_alloc(0, FRAME_KERNEL);
	KT_ASSERT(f);
	*(volatile uint64_t *)frame_kva(f) = 0xC2;
	struct remote r = { .kva = KTEST_VA };
	static struct gate_edit e; /* static: CPU 1 may still write it after a failed test */
	e = (struct gate_edit){ .va = KTEST_VA };
	int map = vm_space_map(&kernel_space, VA(KTEST_VA), PAGE_SIZE, frame_pa(f), KERNEL_RW);
	uint64_t before = read_on(1, &r);
	uint64_t waits = tlb_bringup_wait_count();

	tlb_cpu_bringup_begin();
	int posted = smp_run_idle_work(1, gate_edit_unmap, &e);
	uint64_t t0 = time_ns();
	while (posted == 0 && tlb_bringup_wait_count() == waits && !gate_edit_done(&e) &&
	       time_ns() - t0 < GATE_WAIT_NS)
		arch_cpu_relax();
	bool waited = tlb_bringup_wait_count() > waits;
	bool done_while_closed = gate_edit_done(&e);
	tlb_cpu_bringup_end();

	gate_edit_wait(&e);
	uint64_t after = read_on(1, &r);
	gate_edit_free(&e, f);
	KT_ASSERT_EQ(map, 0);
	KT_ASSERT_EQ(before, 0xC2);
	KT_ASSERT_EQ(posted, 0);
	KT_ASSERT(waited);
	KT_ASSERT(!done_while_closed);
	KT_ASSERT(gate_edit_done(&e));
	KT_ASSERT_EQ(e.err, 0);
	KT_ASSERT_EQ(after, ~0ull);
}

/*
 * Closing the gate waits for a kernel-table flush already in flight, and serves this
 * CPU's calls meanwhile: CPU 1's unmap is dispatched while CPU 0 has interrupts off, so
 * it waits for CPU 0's acknowledgement; bring-up on CPU 0 must run that flush request
 * itself (else both wait forever) and return only once the dispatch is over.
 */
KTEST(tlb_cpu_bringup_waits_for_kernel_flush_in_flight)
{
	if (smp_cpu_online_count() < 2)
		KT_SKIP("needs 2 CPUs");
	struct frame *f = frame_alloc(0, FRAME_KERNEL);
	KT_ASSERT(f);
	static struct gate_edit e; /* static: CPU 1 may still write it after a failed test */
	e = (struct gate_edit){ .va = KTEST_VA };
	struct vm_space *k = &kernel_space;
	int map = vm_space_map(k, VA(KTEST_VA), PAGE_SIZE, frame_pa(f), KERNEL_RW);

	unsigned long flags = arch_irq_save();
	uint64_t dispatches = __atomic_load_n(&k->stats.dispatch_count, __ATOMIC_RELAXED);
	uint64_t calls = __atomic_load_n(&k->stats.call_count, __ATOMIC_RELAXED);
	int posted = smp_run_idle_work(1, gate_edit_unmap, &e);
	uint64_t t0 = time_ns();
	while (posted == 0 &&
	       __atomic_load_n(&k->stats.dispatch_count, __ATOMIC_RELAXED) == dispatches &&
	       time_ns() - t0 < GATE_WAIT_NS)
		arch_cpu_relax();
	bool in_flight = __atomic_load_n(&k->stats.dispatch_count, __ATOMIC_RELAXED) > dispatches;
	bool acked_before = __atomic_load_n(&k->stats.call_count, __ATOMIC_RELAXED) > calls;
	tlb_cpu_bringup_begin();
	bool acked_after = __atomic_load_n(&k->stats.call_count, __ATOMIC_RELAXED) > calls;
	tlb_cpu_bringup_end();
	arch_irq_restore(flags);

	gate_edit_wait(&e);
	gate_edit_free(&e, f);
	KT_ASSERT_EQ(map, 0);
	KT_ASSERT_EQ(posted, 0);
	KT_ASSERT(in_flight);
	KT_ASSERT(!acked_before); /* CPU 1 was waiting for this CPU */
	KT_ASSERT(acked_after);	  /* begin returned after the dispatch was over */
	KT_ASSERT(gate_edit_done(&e));
	KT_ASSERT_EQ(e.err, 0);
}
