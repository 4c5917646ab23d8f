/*
 * x86-64 start-up on the boot CPU: boot info, descriptor tables, NX, and dropping the
 * boot identity map so the whole lower half is free for user spaces and guests.
 */
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/boot.h>
#include <keel/cmdline.h>
#include <keel/kernel.h>
#include <keel/printk.h>
#include <keel/pt_format.h>
#include <keel/string.h>

extern uint64_t boot_pml4[512];
extern uint64_t boot_pdpt_low[512]; /* PML4[256]: the direct map's first 512 GiB */

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_PS 0x80ull
#define PTE_NX (1ull << 63)
#define DIRECT_MAP_MAX GiB(512) /* one PDPT; more RAM than this is left out, with a warning */
#define POOL_PDS 60		/* 2 MiB-leaf fallback: one PD per GiB, up to 64 GiB */

static uint64_t pd_pool[POOL_PDS][512] __aligned(4096);
extern uint8_t boot_stack[];
void multiboot_parse(uint64_t info_pa);

static void cpu_paging_features(void)
{
	uint32_t a, b, c, d;
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	bool nx = d & (1u << 20);	/* SDM Vol 2A CPUID leaf 80000001H: EDX bit 20 NX */
	bool gb_pages = d & (1u << 26); /* EDX bit 26: 1 GiB pages */
	if (nx)
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	else
		printk(KERN_WARN "cpu: no NX (execute-disable): data and stacks stay executable\n");
	if (!gb_pages)
		printk("cpu: no 1 GiB pages: page tables use 4K and 2M leaves\n");
	pt_x86_configure(nx, gb_pages);
}

CMDLINE_OPT(pcid, "pcid", CMDLINE_STR, 0, 0,
	    "host-space PCIDs: auto (default), off, noinvpcid (PCIDs, no INVPCID)");

/*
 * PCIDs for host spaces (SDM Vol 3A 4.10.1): CPUID.01H:ECX[17] PCID,
 * CPUID.(07H,0):EBX[10] INVPCID (Vol 2A CPUID). Sets CR4.PCIDE here (CR3[11:0] is 0:
 * the boot tables' PCID, as 4.10.1 requires); APs copy the boot CPU's CR4 (smp.c).
 * pcid=off / pcid=noinvpcid turn the features off to test the fallbacks.
 */
static void cpu_pcid_features(void)
{
	uint32_t a, b, c, d, max;
	char opt[16] = "auto";
	cpuid(0, 0, &max, &b, &c, &d);
	cpuid(1, 0, &a, &b, &c, &d);
	bool cpu_pcid = c & (1u << 17);
	bool cpu_invpcid = false;
	if (max >= 7) {
		cpuid(7, 0, &a, &b, &c, &d);
		cpu_invpcid = b & (1u << 10);
	}
	(void)cmdline_get_str("pcid", opt, sizeof(opt));
	bool pcid = cpu_pcid && strcmp(opt, "off");
	bool invpcid = cpu_invpcid && pcid && strcmp(opt, "noinvpcid");
	if (pcid)
		write_cr4(read_cr4() | CR4_PCIDE);
	host_tlb_caps.pcid = pcid;
	host_tlb_caps.invpcid = invpcid;
	/* The flush path in use (vm_space_x86.c); the tlb-* test layers check this line. */
	const char *path = "untagged (no PCIDs: every CR3 load flushes; CR4.PGE toggle for "
			   "global entries)";
	if (invpcid)
		path = "invpcid (PCIDs; INVPCID for spaces not loaded here and global entries)";
	else if (pcid)
		path = "stale-mark (PCIDs, no INVPCID: spaces not loaded here flush at their next "
		       "CR3 load; CR4.PGE toggle for global entries)";
	printk("cpu: TLB flush path %s [CPU: PCID %s, INVPCID %s; pcid=%s]\n", path,
	       cpu_pcid ? "yes" : "no", cpu_invpcid ? "yes" : "no", opt);
}

static uint64_t ram_end(void)
{
	uint64_t end = 0;
	for (unsigned i = 0; i < boot_info.mem_count; i++)
		if (boot_info.mem[i].type == BOOT_MEM_USABLE)
			end = MAX(end, boot_info.mem[i].base + boot_info.mem[i].len);
	return ALIGN_UP(end, GiB(1));
}

/*
 * Extends the direct map from the boot 4 GiB to all RAM: 1 GiB leaves when the CPU has
 * them (CPUID 80000001H EDX bit 26), else 2 MiB leaves from a static pool (the frame
 * allocator does not exist yet). Sets boot_info.direct_map_end. Data only: NX.
 */
static void direct_map_extend(void)
{
	uint32_t a, b, c, d;
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	bool gb_pages = d & (1u << 26);
	uint64_t end = MIN(ram_end(), DIRECT_MAP_MAX), pa = GiB(4);
	unsigned pool_used = 0;
	for (; pa < end; pa += GiB(1)) {
		uint64_t *slot = (uint64_t *)boot_sym_kva(boot_pdpt_low) + pa / GiB(1);
		uint64_t nx = pt_x86_nx ? PTE_NX : 0;
		if (gb_pages) {
			*slot = pa | PTE_P | PTE_W | PTE_PS | nx;
			continue;
		}
		if (pool_used == POOL_PDS)
			break;
		uint64_t *pd = pd_pool[pool_used++];
		for (unsigned i = 0; i < 512; i++)
			pd[i] = (pa + i * SIZE_2M) | PTE_P | PTE_W | PTE_PS | nx;
		*slot = kva_to_pa(pd).v | PTE_P | PTE_W;
	}
	boot_info.direct_map_end = MAX(pa, GiB(4));
	write_cr3(read_cr3());
	if (boot_info.direct_map_end < ram_end())
		printk(KERN_WARN "mm: RAM ends at %llu GiB but the direct map stops at %llu GiB\n",
		       (unsigned long long)(ram_end() >> 30),
		       (unsigned long long)(boot_info.direct_map_end >> 30));
}

void arch_early_init(uint64_t mb_magic, uint64_t mb_info_pa)
{
	(void)mb_magic; /* checked by boot.asm */
	idt_init();
	cpus[0].kstack_top = boot_stack + KSTACK_SIZE;
	cpu_init_this(&cpus[0]);
	multiboot_parse(mb_info_pa);
	cpu_paging_features();
	cpu_pcid_features();
	direct_map_extend();
	/* The identity map was only for the jump to the higher half. */
	uint64_t *pml4 = boot_sym_kva(boot_pml4);
	pml4[0] = 0;
	write_cr3(read_cr3());
}
