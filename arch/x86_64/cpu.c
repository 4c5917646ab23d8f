/*
 * Per-CPU descriptor tables and the generic arch hooks (include/keel/arch.h).
 * Each CPU has its own GDT (for its own TSS) and TSS with IST stacks for double fault,
 * NMI and machine check, so those run on a known-good stack (SDM Vol 3A 6.14.5).
 */
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/string.h>

struct cpu cpus[MAX_CPUS];
unsigned cpu_count = 1;
static bool gs_ready; /* GS base valid on the BSP (APs set it before any use) */

/* Slots follow the selectors of x86.h (the order SYSCALL/SYSRET impose). Descriptor
 * formats: SDM Vol 3A 3.4.5 (code/data: access byte P, DPL, S, type; L flag for 64-bit
 * code) and 8.2.3 (64-bit TSS descriptor, two slots). */
static void gdt_fill(struct cpu *c)
{
	uint64_t base = (uint64_t)&c->tss;
	uint64_t limit = sizeof(c->tss) - 1;
	unsigned tss = SEL_TSS / 8;

	memset(c->gdt, 0, sizeof(c->gdt));
	c->gdt[SEL_KCODE / 8] = 0x00AF9A000000FFFFull; /* 64-bit code, DPL 0 */
	c->gdt[SEL_KDATA / 8] = 0x00CF92000000FFFFull; /* data, DPL 0 */
	c->gdt[SEL_UDATA / 8] = 0x00CFF2000000FFFFull; /* data, DPL 3 */
	c->gdt[SEL_UCODE / 8] = 0x00AFFA000000FFFFull; /* 64-bit code, DPL 3 */
	/* 64-bit TSS descriptor, type 9 (available), present */
	c->gdt[tss] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) |
		      (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
	c->gdt[tss + 1] = base >> 32;
}
_Static_assert(SEL_TSS / 8 + 1 < GDT_SPARE && GDT_SPARE < GDT_ENTRIES, "GDT layout");

static void tss_fill(struct cpu *c)
{
	memset(&c->tss, 0, sizeof(c->tss));
	for (int i = 0; i < 3; i++)
		c->tss.ist[i] = (uint64_t)&c->ist_stacks[i][IST_STACK_SIZE];
	c->tss.rsp[0] = (uint64_t)c->kstack_top;
	c->tss.iopb = sizeof(c->tss); /* no I/O bitmap */
}

static void gdt_load(struct cpu *c)
{
	struct __packed {
		uint16_t limit;
		uint64_t base;
	} ptr = { sizeof(c->gdt) - 1, (uint64_t)c->gdt };
	__asm__ __volatile__("lgdt %0\n\t"
			     "pushq %1\n\t"
			     "leaq 1f(%%rip), %%rax\n\t"
			     "pushq %%rax\n\t"
			     "lretq\n"
			     "1:\n\t"
			     "mov %2, %%ds\n\t"
			     "mov %2, %%es\n\t"
			     "mov %2, %%ss\n\t"
			     :
			     : "m"(ptr), "i"(SEL_KCODE), "r"(SEL_KDATA)
			     : "rax", "memory");
	__asm__ __volatile__("ltr %w0" ::"r"(SEL_TSS));
}

extern const char syscall_entry[];

/* Offsets that syscall.asm uses. */
_Static_assert(__builtin_offsetof(struct cpu, syscall_rsp) == 64, "CPU_SYSCALL_RSP");
_Static_assert(__builtin_offsetof(struct cpu, user_rsp) == 72, "CPU_USER_RSP");
_Static_assert(__builtin_offsetof(struct trap_frame, rip) == 152, "FRAME_RIP");
_Static_assert(__builtin_offsetof(struct trap_frame, rflags) == 168, "FRAME_RFLAGS");
_Static_assert(__builtin_offsetof(struct trap_frame, rsp) == 176, "FRAME_RSP");
_Static_assert(__builtin_offsetof(struct trap_frame, vector) == 136, "vector");

/*
 * SYSCALL/SYSRET (SDM Vol 2B; MSRs Vol 4): EFER.SCE on; STAR[47:32] the kernel code
 * selector, STAR[63:48] the user base (x86.h explains the order); LSTAR the entry;
 * FMASK clears IF (no interrupt before the kernel stack), TF (no #DB on the kernel's
 * first instruction), DF (the ABI's direction), AC and NT.
 */
static void syscall_init_this(struct cpu *c)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	wrmsr(MSR_STAR, ((uint64_t)SEL_USER_BASE << 48) | ((uint64_t)SEL_KCODE << 32));
	wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
	wrmsr(MSR_FMASK, RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC | RFLAGS_NT);
	c->syscall_rsp = (uint64_t)c->kstack_top;
}

/* User threads use x87/SSE (FXSAVE'd per thread, thread.c): CR0.MP and NE (x87 errors as #MF) with EM and TS
 * clear, CR4.OSFXSR and OSXMMEXCPT (SIMD exceptions as #XM, not #UD) (SDM Vol 3A 14.1). */
static void fpu_init_this(void)
{
	write_cr0((read_cr0() | CR0_MP | CR0_NE) & ~(CR0_EM | CR0_TS));
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
	__asm__ __volatile__("fninit");
}

void cpu_init_this(struct cpu *c)
{
	c->self = c;
	c->id = (unsigned)(c - cpus);
	gdt_fill(c);
	tss_fill(c);
	gdt_load(c);
	/* FS/GS selectors become 0; GS base then points at this CPU's struct. */
	__asm__ __volatile__("mov %0, %%fs; mov %0, %%gs" ::"r"(0));
	wrmsr(MSR_GS_BASE, (uint64_t)c);
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	gs_ready = true;
	idt_load();
	syscall_init_this(c);
	fpu_init_this();
}

unsigned long arch_irq_save(void)
{
	unsigned long f = read_rflags();
	cli();
	return f;
}

void arch_irq_restore(unsigned long flags)
{
	if (flags & RFLAGS_IF)
		sti();
}

void arch_irq_enable(void)
{
	sti();
}

/* Before the boot CPU loaded GS base nothing can be preempted (no other thread exists);
 * an AP takes no lock before its cpu_init_this. */
void arch_preempt_disable(void)
{
	if (likely(gs_ready))
		__asm__ __volatile__(
		    "incl %%gs:%c0" ::"i"(__builtin_offsetof(struct cpu, preempt_count))
		    : "memory");
}

void arch_preempt_enable(void)
{
	if (likely(gs_ready))
		__asm__ __volatile__(
		    "decl %%gs:%c0" ::"i"(__builtin_offsetof(struct cpu, preempt_count))
		    : "memory");
}

unsigned arch_preempt_count(void)
{
	unsigned n = 0;

	if (likely(gs_ready))
		__asm__ __volatile__("movl %%gs:%c1, %0"
				     : "=r"(n)
				     : "i"(__builtin_offsetof(struct cpu, preempt_count)));
	return n;
}

bool arch_irqs_enabled(void)
{
	return read_rflags() & RFLAGS_IF;
}

void arch_cpu_relax(void)
{
	cpu_pause();
}

unsigned arch_cpu_id(void)
{
	/* Before cpu_init_this on the BSP, GS base is 0: treat as CPU 0. */
	if (unlikely(!gs_ready))
		return 0;
	return this_cpu()->id;
}

void *arch_pa_to_kva(paddr_t pa)
{
	return pa_to_kva(pa);
}

paddr_t arch_kva_to_pa(const void *kva)
{
	return kva_to_pa(kva);
}
