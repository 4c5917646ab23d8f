/*
 * pae: 32-bit PAE paging outside long mode (SDM Vol 3A 4.4): the four PDPTEs are loaded
 * when CR0.PG turns paging on and again on every MOV to CR3 (4.4.1). A PDPT maps
 * 0-1 GiB identity and 0x40000000 as an alias of physical 0; a second PDPT maps
 * 0x40000000 to physical 0x200000. Stores through the aliases must land at the physical
 * addresses. Whether a reserved PDPTE bit raises #GP at CR0.PG is left to the Keel
 * guest guest/pae.asm (QEMU TCG loads no PDPTEs): here it is a comment line.
 */
#include "cpu.h"

static uint64_t pdpt[4] __attribute__((aligned(32)));
static uint64_t pdpt2[4] __attribute__((aligned(32)));
static uint64_t pdpt_bad[4] __attribute__((aligned(32)));
static uint64_t pd0[512] __attribute__((aligned(4096)));
static uint64_t pd1[512] __attribute__((aligned(4096)));
static uint64_t pd2[512] __attribute__((aligned(4096)));
static volatile uint32_t probe;
#define SECOND 0x200000u /* what the second table maps at 0x40000000 */
#define OFFSET 0x80000u	 /* the word tested: 0x40080000 -> 0x80000, then 0x280000 */

/* PDPTE 1 maps 0x40000000: to physical 0 (pdpt), to SECOND (pdpt2). */
static void build_tables(void)
{
	for (unsigned i = 0; i < 512; i++)
		pd0[i] = ((uint64_t)i << 21) | 0x83; /* P, RW, PS: 2 MiB */
	pd1[0] = 0x83;				     /* 0x40000000 -> 0 */
	pd2[0] = SECOND | 0x83;
	pdpt[0] = pdpt2[0] = pdpt_bad[0] = (uint32_t)pd0 | 1; /* PDPTE: P (RW/US reserved) */
	pdpt[1] = pdpt_bad[1] = (uint32_t)pd1 | 1;
	pdpt2[1] = (uint32_t)pd2 | 1;
	pdpt_bad[3] = (uint32_t)pd1 | 1 | (1u << 5); /* bit 5: reserved */
}

static void paging(bool on)
{
	uint32_t cr0 = read_cr0();
	write_cr0(on ? cr0 | CR0_PG : cr0 & ~CR0_PG);
}

/* CR0.PG with a reserved PDPTE bit: SDM #GP (Keel), QEMU TCG takes it. A comment. */
static void reserved_pdpte(void)
{
	write_cr3((uint32_t)pdpt_bad);
	cpu_fault.count = 0;
	uint32_t cr0 = read_cr0() | CR0_PG;
	__asm__ volatile("movl $1f, cpu_fault_resume\n\tmovl %0, %%cr0\n1:" ::"r"(cr0) : "memory");
	unsigned v = cpu_fault_taken();
	printf("# reserved PDPTE bit at CR0.PG: %s\n",
	       v == 13 ? "#GP (as the SDM says)" : "no fault (QEMU TCG)");
	paging(false);
}

int mb_main(uint32_t magic, const struct mb_info *info)
{
	(void)magic;
	(void)info;
	tap_plan(5);
	cpu_idt_init();
	build_tables();
	write_cr4(read_cr4() | CR4_PAE);
	reserved_pdpte();
	write_cr3((uint32_t)pdpt);
	paging(true);
	tap_ok(read_cr0() & CR0_PG, "PAE paging on");
	volatile uint32_t *alias = (volatile uint32_t *)(0x40000000u + (uint32_t)&probe);
	*alias = 0x12345678;
	tap_ok(probe == 0x12345678,
	       "a store through PDPTE 1's alias lands at its physical address");
	volatile uint32_t *low = (volatile uint32_t *)OFFSET;
	volatile uint32_t *high = (volatile uint32_t *)(SECOND + OFFSET);
	volatile uint32_t *alias2 = (volatile uint32_t *)(0x40000000u + OFFSET);
	*low = 1;
	*high = 2;
	write_cr3((uint32_t)pdpt2); /* no exit under Keel: the CPU loads the PDPTEs */
	*alias2 = 0xCAFEF00D;
	tap_ok(*high == 0xCAFEF00D && *low == 1, "after MOV to CR3, PDPTE 1 maps the second table");
	paging(false);
	tap_ok(!(read_cr0() & CR0_PG), "paging off again");
	tap_ok(*high == 0xCAFEF00D && probe == 0x12345678, "the stores stay in memory");
	write_cr4(read_cr4() & ~CR4_PAE);
	return tap_done();
}
