/*
 * Starting the application processors (APs) and the x86 side of cross-CPU calls:
 * the call doorbell, the stop IPI and the NMI fallback for panic.
 * CPUs come from the MADT (acpi.c); cpus[0] is the boot CPU, APs get the next dense
 * indexes in firmware order as they come online. A CPU that does not start within
 * AP_START_TIMEOUT_MS is reported, put back into wait-for-SIPI with INIT, and left out.
 *
 * Low memory used (below 1 MiB, never handed out by the frame allocator, and checked
 * against the boot memory map): 0x8000 trampoline code+data, 0x9000-0xBFFF the
 * trampoline's page tables (PML4, PDPT, PD). APs are started one at a time because
 * they share these pages.
 */
#include <arch/acpi.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/smp.h>
#include <arch/time.h>
#include <arch/x86.h>
#include <keel/boot.h>
#include <keel/cmdline.h>
#include <keel/frame.h>
#include <keel/printk.h>
#include <keel/sched.h>
#include <keel/smp.h>
#include <keel/string.h>
#include <keel/time.h>
#include <mm/tlb.h>

CMDLINE_OPT(cpus, "cpus", CMDLINE_INT, 1, MAX_CPUS,
	    "CPUs the machine has (the SMP tests check that all came online)");

#define TRAMP_PA 0x8000ull /* must match TRAMP_BASE in trampoline.asm */
#define TRAMP_PML4_PA 0x9000ull
#define TRAMP_PDPT_PA 0xA000ull
#define TRAMP_PD_PA 0xB000ull
#define TRAMP_LOW_END 0xC000ull
#define AP_START_TIMEOUT_MS 1000
#define STOP_WAIT_MS 100
#define KSTACK_ORDER 2
_Static_assert(PAGE_SIZE << KSTACK_ORDER == KSTACK_SIZE, "KSTACK_ORDER");

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_PS (1ull << 7)
#define PTE_ADDR 0x000FFFFFFFFFF000ull
#define EFER_LMA (1ull << 10)
#define MSR_PAT 0x277

/* Layout of trampoline_data in trampoline.asm. */
struct trampoline_data {
	uint32_t cr3, efer, cr0;
	volatile uint32_t alive;
	uint64_t stack, arg, entry;
};

extern const char trampoline_start[], trampoline_end[], trampoline_data[];

/* [c] the boot CPU's settings, which APs copy (written before the first SIPI) */
static uint64_t kernel_cr3, bsp_cr4, bsp_pat;
static int stopping;			   /* [a] smp_stop_others has begun */
static cpumask_t stopped_mask;		   /* [a] CPUs that obeyed the stop */
static cpumask_t nmi_expected;		   /* [a] CPUs whose next NMI is a test's */
static uint64_t nmi_test_counts[MAX_CPUS]; /* [a] */

__noreturn void ap_main(struct cpu *c);

/* True if the boot memory map says [start, end) is usable RAM and nothing else. */
static bool low_memory_free(uint64_t start, uint64_t end)
{
	bool usable = false;
	for (unsigned i = 0; i < boot_info.mem_count; i++) {
		const struct boot_mem_region *r = &boot_info.mem[i];
		bool overlaps = r->base < end && start < r->base + r->len;
		if (r->type == BOOT_MEM_USABLE && r->base <= start && end <= r->base + r->len)
			usable = true;
		else if (overlaps && r->type != BOOT_MEM_USABLE)
			return false;
	}
	return usable;
}

/* Copies the trampoline to TRAMP_PA and builds its page tables: the low 2 MiB identity
 * mapped (one 2 MiB leaf, for the trampoline itself) and the kernel's upper half (PML4
 * entries 256-511 copied from the kernel table, which never changes them after
 * kmap_init: kmap.h). Returns its data block. */
static struct trampoline_data *trampoline_install(void)
{
	size_t size = (uintptr_t)trampoline_end - (uintptr_t)trampoline_start;
	CHECK(size <= TRAMP_PML4_PA - TRAMP_PA);
	memcpy(pa_to_kva(PA(TRAMP_PA)), trampoline_start, size);

	uint64_t *pml4 = pa_to_kva(PA(TRAMP_PML4_PA));
	uint64_t *pdpt = pa_to_kva(PA(TRAMP_PDPT_PA));
	uint64_t *pd = pa_to_kva(PA(TRAMP_PD_PA));
	const uint64_t *live = pa_to_kva(PA(read_cr3() & PTE_ADDR));
	memset(pml4, 0, PAGE_SIZE);
	memset(pdpt, 0, PAGE_SIZE);
	memset(pd, 0, PAGE_SIZE);
	pd[0] = 0 | PTE_P | PTE_W | PTE_PS;
	pdpt[0] = TRAMP_PD_PA | PTE_P | PTE_W;
	pml4[0] = TRAMP_PDPT_PA | PTE_P | PTE_W;
	for (int i = 256; i < 512; i++)
		pml4[i] = live[i];

	struct trampoline_data *td =
	    pa_to_kva(PA(TRAMP_PA + ((uintptr_t)trampoline_data - (uintptr_t)trampoline_start)));
	td->cr3 = (uint32_t)TRAMP_PML4_PA;
	td->efer = (uint32_t)(rdmsr(MSR_EFER) & ~EFER_LMA);
	td->cr0 = (uint32_t)read_cr0();
	td->entry = (uint64_t)ap_main;
	return td;
}

/* Waits up to ms for *flag to become true (acquire: what the AP did before setting it
 * is visible after); polls in 100 us steps, so it is bounded even if the clock were not
 * calibrated. Serves this CPU's cross-calls meanwhile, as any wait for another CPU must
 * (kernel/README.md). */
static bool wait_flag(volatile bool *flag, unsigned ms)
{
	for (unsigned i = 0; i < ms * 10; i++) {
		if (__atomic_load_n(flag, __ATOMIC_ACQUIRE))
			return true;
		smp_call_poll();
		udelay(100);
	}
	return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

/*
 * Starts one AP as cpus[idx]: INIT, 10 ms, SIPI, 200 us, SIPI, 200 us (SDM Vol 3A
 * 9.4.4.1 "Typical BSP Initialization Sequence"; a second SIPI is ignored by an AP
 * that already left wait-for-SIPI), then waits for it to mark itself online.
 *
 * The kernel table must not be flushed while the AP comes online: from the trampoline
 * on the AP walks it (and caches translations and paging-structure entries), but
 * kernel-table flushes reach online CPUs only. So the bring-up gate (kernel/mm/tlb.h)
 * is closed from before the first SIPI until the AP is online, or parked again; edits
 * on other CPUs meanwhile wait in their flush (the reasoning is in kernel/mm/tlb.c).
 */
static bool ap_start(unsigned idx, uint32_t apic_id, struct trampoline_data *td,
		     struct frame **stack)
{
	struct cpu *c = &cpus[idx];
	if (!*stack && !(*stack = frame_alloc(KSTACK_ORDER, FRAME_KERNEL))) {
		printk(KERN_ERR "smp: no memory for a kernel stack; not starting more CPUs\n");
		return false;
	}
	c->apic_id = apic_id;
	c->online = false;
	c->kstack_top = (uint8_t *)frame_kva(*stack) + KSTACK_SIZE;
	td->stack = (uint64_t)c->kstack_top;
	td->arg = (uint64_t)c;
	td->alive = 0;

	apic_send_init(apic_id);
	udelay(10000);
	tlb_cpu_bringup_begin();
	for (int i = 0; i < 2; i++) {
		apic_send_sipi(apic_id, (uint8_t)(TRAMP_PA >> PAGE_SHIFT));
		udelay(200);
	}
	if (wait_flag(&c->online, AP_START_TIMEOUT_MS)) {
		tlb_cpu_bringup_end(); /* it is online: kernel-table flushes reach it */
		*stack = NULL;	       /* now owned by the CPU */
		return true;
	}
	/* Park it again so it cannot run the trampoline later with another CPU's data
	 * (nor use the kernel table: it stays out of every flush). */
	apic_send_init(apic_id);
	tlb_cpu_bringup_end();
	printk(KERN_ERR "smp: CPU with APIC ID %u did not come up within %u ms (%s); left out\n",
	       apic_id, AP_START_TIMEOUT_MS,
	       td->alive ? "reached long mode, not ap_main's end" : "never reached long mode");
	return false;
}

/* C entry of an AP, on its own kernel stack, still on the trampoline page tables. */
__noreturn void ap_main(struct cpu *c)
{
	/* PCID 0 in CR3 before CR4 (CR4.PCIDE can only be set with CR3[11:0] = 0, SDM
	 * Vol 3A 4.10.1); the upper half is the same in both tables, so this runs on.
	 * Setting CR4.PGE (clear in the trampoline) also drops every TLB and
	 * paging-structure-cache entry (4.10.4.1). Kernel-table flushes reach this CPU
	 * only once it is online; the bring-up gate (ap_start) covers the time until. */
	write_cr3(kernel_cr3 & PTE_ADDR);
	write_cr4(bsp_cr4);
	wrmsr(MSR_PAT, bsp_pat);
	cpu_init_this(c); /* GS base: nothing may use this_cpu() or a lock before it */
	apic_init_ap();
	time_init_ap();
	sched_init_ap(c->id); /* this context becomes the CPU's idle thread */
	smp_mark_online(c->id);
	__atomic_store_n(&c->online, true, __ATOMIC_RELEASE);
	arch_idle_loop();
}

/*
 * A CPU's idle thread (APs: their start-up context; the boot CPU: a thread of its own,
 * kernel/sched.c): serve calls, run idle work (interrupts on, outside any handler: long
 * work such as the vCPU loop keeps this CPU), run ready threads, else halt. The checks
 * before the halt are made with interrupts off: a doorbell after them stays pending
 * until the HLT (sti's one-instruction shadow), so neither work nor a thread is missed.
 */
__noreturn void arch_idle_loop(void)
{
	for (;;) {
		smp_call_poll();
		smp_idle_work_poll();
		sched_idle_run();
		cli();
		if (smp_idle_work_pending() || sched_has_work())
			sti();
		else
			__asm__ __volatile__("sti; hlt" ::: "memory");
	}
}

static void call_irq(struct trap_frame *tf)
{
	apic_eoi(); /* first: a doorbell rung while we run the queue raises it again */
	smp_call_poll();
}

static __noreturn void stop_this_cpu(void)
{
	cpumask_set_atomic(&stopped_mask, arch_cpu_id());
	for (;;)
		__asm__ __volatile__("cli; hlt" ::: "memory");
}

static void stop_irq(struct trap_frame *tf)
{
	stop_this_cpu();
}

/* The NMI handler: stops this CPU if a stop is under way; any other NMI is fatal
 * (hardware error or a watchdog), reported like an unhandled exception. */
static void nmi_handler(struct trap_frame *tf)
{
	unsigned cpu = arch_cpu_id();
	if (smp_stop_in_progress())
		stop_this_cpu();
	if (cpumask_test(cpumask_read(&nmi_expected), cpu)) {
		cpumask_clear_atomic(&nmi_expected, cpu);
		__atomic_fetch_add(&nmi_test_counts[cpu], 1, __ATOMIC_RELEASE);
		return;
	}
	printk_break_lock();
	printk(KERN_EMERG "\nKEEL PANIC: unexpected NMI\n");
	trap_dump(tf);
	panic("unexpected NMI on CPU %u", cpu);
}

void smp_nmi_test_expect(unsigned cpu)
{
	cpumask_set_atomic(&nmi_expected, cpu);
}

uint64_t smp_nmi_test_count(unsigned cpu)
{
	return __atomic_load_n(&nmi_test_counts[cpu], __ATOMIC_ACQUIRE);
}

void arch_smp_send_call_ipi(unsigned cpu)
{
	apic_send_ipi(cpus[cpu].apic_id, VEC_IPI_CALL);
}

bool smp_stop_in_progress(void)
{
	return __atomic_load_n(&stopping, __ATOMIC_ACQUIRE);
}

static bool all_stopped(cpumask_t others)
{
	return cpumask_is_empty(cpumask_andnot(others, cpumask_read(&stopped_mask)));
}

void smp_stop_others(void)
{
	if (__atomic_exchange_n(&stopping, 1, __ATOMIC_ACQ_REL))
		return;
	cpumask_t others = smp_online_mask();
	cpumask_clear(&others, arch_cpu_id());
	if (cpumask_is_empty(others))
		return;
	apic_send_ipi_mask(others, VEC_IPI_STOP);
	for (unsigned i = 0; i < STOP_WAIT_MS * 10 && !all_stopped(others); i++)
		udelay(100);
	/* Those still running have interrupts off (or are stuck): NMI them. */
	unsigned cpu;
	cpumask_for_each (cpu, cpumask_andnot(others, cpumask_read(&stopped_mask)))
		apic_send_nmi(cpus[cpu].apic_id);
	for (unsigned i = 0; i < STOP_WAIT_MS * 10 && !all_stopped(others); i++)
		udelay(100);
}

static void smp_handlers_install(void)
{
	irq_set_handler(VEC_IPI_CALL, call_irq);
	irq_set_handler(VEC_IPI_STOP, stop_irq);
	irq_set_handler(2, nmi_handler);
}

void smp_start_aps(void)
{
	smp_handlers_install();
	if (acpi_info.cpu_count <= 1)
		goto out;
	if (!low_memory_free(TRAMP_PA, TRAMP_LOW_END)) {
		printk(KERN_ERR "smp: memory %llx-%llx is not free RAM in the boot memory map; "
				"not starting other CPUs\n",
		       TRAMP_PA, TRAMP_LOW_END - 1);
		goto out;
	}
	kernel_cr3 = read_cr3();
	bsp_cr4 = read_cr4() & ~CR4_VMXE; /* VMX is enabled per CPU by vmm/ */
	bsp_pat = rdmsr(MSR_PAT);
	struct trampoline_data *td = trampoline_install();
	struct frame *stack = NULL; /* kept for the next CPU if one fails */
	uint32_t self = cpus[0].apic_id;
	for (unsigned i = 0; i < acpi_info.cpu_count && cpu_count < MAX_CPUS; i++) {
		uint32_t id = acpi_info.cpu_apic_ids[i];
		if (id == self)
			continue;
		if (id > apic_id_max()) {
			printk(KERN_WARN "smp: APIC ID %u not addressable in %s mode; skipped\n",
			       id, apic_mode_name());
			continue;
		}
		if (!ap_start(cpu_count, id, td, &stack))
			continue;
		printk(KERN_DEBUG "smp: CPU %u (APIC ID %u) online\n", cpu_count, id);
		cpu_count++;
	}
	if (stack)
		frame_free(stack, KSTACK_ORDER);
out:
	printk("smp: %u CPUs online (%u in the MADT), APIC %s\n", smp_cpu_online_count(),
	       acpi_info.cpu_count ? acpi_info.cpu_count : 1, apic_mode_name());
}
