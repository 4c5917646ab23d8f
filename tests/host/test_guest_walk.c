/*
 * Host tests of the guest's own page walk (vmm/guest_walk.c): tables written into a
 * fake guest RAM (a byte array; guest-physical addresses index it), every paging mode,
 * leaf size, rights rule and fault code the walk claims, and random tables for
 * robustness. Entry bits are spelled here from the SDM (Vol 3A 4.3-4.5), not taken
 * from the walker.
 */
#include <stdio.h>
#include <string.h>

#include <keel/compiler.h>
#include <keel/errno.h>

#include "frame_fake.h"
#include "guest_walk.h"

#define RAM_SIZE MiB(4)
static uint8_t ram[RAM_SIZE];

#define P 0x1ull
#define RW 0x2ull
#define US 0x4ull
#define PS 0x80ull
#define XD (1ull << 63)
#define CR0_PG (1ull << 31)
#define CR0_PE 1ull
#define CR0_WP (1ull << 16)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define CR4_SMEP (1ull << 20)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

static int ram_read(void *arg, gpa_t gpa, unsigned size, uint64_t *val)
{
	(void)arg;
	if (gpa.v >= RAM_SIZE || RAM_SIZE - gpa.v < size)
		return -EFAULT;
	*val = 0;
	memcpy(val, ram + gpa.v, size);
	return 0;
}

static void put64(uint64_t at, uint64_t v)
{
	memcpy(ram + at, &v, 8);
}
static void put32(uint64_t at, uint32_t v)
{
	memcpy(ram + at, &v, 4);
}

/* Walks; returns the error and fills *gpa, *size, *pf. */
static int walk(const struct guest_paging *p, uint64_t la, unsigned access, uint64_t *gpa,
		uint64_t *size, uint32_t *pf)
{
	struct guest_walk_result r = { GPA(~0ull), 0 };
	int err = guest_walk(p, la, access, ram_read, NULL, &r, pf);
	*gpa = r.gpa.v;
	*size = r.page_size;
	return err;
}

/* 4-level tables at 0x10000: PML4[0] -> PDPT 0x11000; PDPT[0] -> PD 0x12000,
 * PDPT[1] = 1G leaf at 0 (user, RW); PD[0] -> PT 0x13000; PD[1] = 2M leaf at 0x200000;
 * PT[1] = 4K at 0x5000 (RW, user), PT[2] = 4K at 0x6000 (read-only), PT[3] = 4K at
 * 0x7000 (XD, user). */
static struct guest_paging long_mode_tables(void)
{
	memset(ram, 0, sizeof(ram));
	put64(0x10000, 0x11000 | P | RW | US);
	put64(0x11000, 0x12000 | P | RW | US);
	put64(0x11000 + 8, 0x0 | P | RW | US | PS);
	put64(0x12000, 0x13000 | P | RW | US);
	put64(0x12000 + 8, 0x200000 | P | RW | PS);
	put64(0x13000 + 8, 0x5000 | P | RW | US);
	put64(0x13000 + 16, 0x6000 | P | US);
	put64(0x13000 + 24, 0x7000 | P | RW | US | XD);
	struct guest_paging p = { .cr0 = CR0_PG | CR0_PE | CR0_WP,
				  .cr3 = 0x10000,
				  .cr4 = CR4_PAE,
				  .efer = EFER_LME | EFER_LMA | EFER_NXE };
	return p;
}

static bool paging_off_is_identity_in_32_bits(void)
{
	struct guest_paging p = { .cr0 = CR0_PE };
	uint64_t gpa, size;
	uint32_t pf = 7;
	T_ASSERT(walk(&p, 0x12345678, GW_WRITE | GW_CHECK, &gpa, &size, &pf) == 0);
	T_ASSERT(gpa == 0x12345678 && size == PAGE_SIZE && pf == 0);
	T_ASSERT(walk(&p, 0x100001234ull, 0, &gpa, &size, &pf) == 0 && gpa == 0x1234);
	return true;
}

static bool four_level_leaves_of_every_size(void)
{
	struct guest_paging p = long_mode_tables();
	uint64_t gpa, size;
	uint32_t pf;
	T_ASSERT(walk(&p, 0x1abc, 0, &gpa, &size, &pf) == 0);
	T_ASSERT(gpa == 0x5abc && size == PAGE_SIZE);
	T_ASSERT(walk(&p, 0x212345, 0, &gpa, &size, &pf) == 0);
	T_ASSERT(gpa == 0x212345 && size == SIZE_2M);
	T_ASSERT(walk(&p, SIZE_1G + 0x345678, 0, &gpa, &size, &pf) == 0);
	T_ASSERT(gpa == 0x345678 && size == SIZE_1G);
	return true;
}

static bool not_present_fault_codes_say_the_access(void)
{
	struct guest_paging p = long_mode_tables();
	uint64_t gpa, size;
	uint32_t pf;
	/* PT[4] absent: P=0, W and U as asked (SDM 4.7). */
	T_ASSERT(walk(&p, 0x4000, GW_WRITE | GW_USER, &gpa, &size, &pf) == -EFAULT);
	T_ASSERT(pf == (2u | 4u));
	/* PML4[1] absent. */
	T_ASSERT(walk(&p, 1ull << 39, 0, &gpa, &size, &pf) == -EFAULT && pf == 0);
	/* A fetch reports I/D when NXE is on. */
	T_ASSERT(walk(&p, 0x4000, GW_FETCH, &gpa, &size, &pf) == -EFAULT && pf == 0x10);
	return true;
}

static bool rights_checked_only_when_asked(void)
{
	struct guest_paging p = long_mode_tables();
	uint64_t gpa, size;
	uint32_t pf;
	/* User read of the supervisor-only 2M page. */
	T_ASSERT(walk(&p, 0x200000, GW_USER | GW_CHECK, &gpa, &size, &pf) == -EFAULT);
	T_ASSERT(pf == (1u | 4u));
	T_ASSERT(walk(&p, 0x200000, GW_USER, &gpa, &size, &pf) == 0);
	/* Write to the read-only page: supervisor faults with CR0.WP, not without. */
	T_ASSERT(walk(&p, 0x2000, GW_WRITE | GW_CHECK, &gpa, &size, &pf) == -EFAULT);
	T_ASSERT(pf == (1u | 2u));
	p.cr0 &= ~CR0_WP;
	T_ASSERT(walk(&p, 0x2000, GW_WRITE | GW_CHECK, &gpa, &size, &pf) == 0 && gpa == 0x6000);
	T_ASSERT(walk(&p, 0x2000, GW_WRITE | GW_USER | GW_CHECK, &gpa, &size, &pf) == -EFAULT);
	/* Fetch from the XD page. */
	T_ASSERT(walk(&p, 0x3000, GW_FETCH | GW_CHECK, &gpa, &size, &pf) == -EFAULT);
	T_ASSERT(pf == (1u | 0x10u));
	T_ASSERT(walk(&p, 0x1000, GW_FETCH | GW_CHECK, &gpa, &size, &pf) == 0);
	/* SMEP: a supervisor fetch from a user page. */
	p.cr4 |= CR4_SMEP;
	T_ASSERT(walk(&p, 0x1000, GW_FETCH | GW_CHECK, &gpa, &size, &pf) == -EFAULT);
	T_ASSERT(walk(&p, 0x1000, GW_FETCH | GW_USER | GW_CHECK, &gpa, &size, &pf) == 0);
	return true;
}

static bool reserved_bits_fault_with_rsvd(void)
{
	struct guest_paging p = long_mode_tables();
	uint64_t gpa, size;
	uint32_t pf;
	/* XD set while EFER.NXE is off. */
	p.efer &= ~EFER_NXE;
	T_ASSERT(walk(&p, 0x3000, 0, &gpa, &size, &pf) == -EFAULT && (pf & 8) && (pf & 1));
	p.efer |= EFER_NXE;
	/* PS in a PML4 entry. */
	put64(0x10000 + 8, 0x0 | P | PS);
	T_ASSERT(walk(&p, 1ull << 39, 0, &gpa, &size, &pf) == -EFAULT && (pf & 8));
	/* A 2M leaf with an address bit in 20:13. */
	put64(0x12000 + 16, 0x400000 | 0x2000 | P | PS);
	T_ASSERT(walk(&p, 0x400000, 0, &gpa, &size, &pf) == -EFAULT && (pf & 8));
	return true;
}

static bool pae_uses_the_pdpte_registers(void)
{
	memset(ram, 0, sizeof(ram));
	/* PDPTE[1] (register) -> PD 0x20000; PD[0] -> PT 0x21000; PT[5] -> 0x9000;
	 * PD[1] = 2M leaf at 0x600000. */
	put64(0x20000, 0x21000 | P | RW);
	put64(0x20000 + 8, 0x600000 | P | RW | PS);
	put64(0x21000 + 5 * 8, 0x9000 | P | RW);
	struct guest_paging p = { .cr0 = CR0_PG | CR0_PE,
				  .cr3 = 0x30000,
				  .cr4 = CR4_PAE,
				  .pdpte = { 0, 0x20000 | P, 0, 0 } };
	uint64_t gpa, size;
	uint32_t pf;
	T_ASSERT(walk(&p, 0x40005123, 0, &gpa, &size, &pf) == 0);
	T_ASSERT(gpa == 0x9123 && size == PAGE_SIZE);
	T_ASSERT(walk(&p, 0x40212345, 0, &gpa, &size, &pf) == 0);
	T_ASSERT(gpa == 0x612345 && size == SIZE_2M);
	/* PDPTE[0] not present: memory at CR3 is not looked at. */
	put64(0x30000, 0x20000 | P);
	T_ASSERT(walk(&p, 0x5000, 0, &gpa, &size, &pf) == -EFAULT && pf == 0);
	/* Upper 32 bits of the linear address are ignored outside long mode. */
	T_ASSERT(walk(&p, 0xF00000000ull | 0x40005123, 0, &gpa, &size, &pf) == 0);
	T_ASSERT(gpa == 0x9123);
	return true;
}

static bool thirty_two_bit_paging_4k_and_4m(void)
{
	memset(ram, 0, sizeof(ram));
	/* PD at 0x40000: PD[0] -> PT 0x41000, PT[3] -> 0xa000; PD[2] = 4M leaf at
	 * 0x3_0080_0000 (PSE-36: bits 39:32 in 20:13). */
	put32(0x40000, 0x41000 | P | RW | US);
	put32(0x41000 + 3 * 4, 0xa000 | P | RW | US);
	put32(0x40000 + 2 * 4, 0x00800000 | (3u << 13) | P | RW | PS);
	struct guest_paging p = { .cr0 = CR0_PG | CR0_PE, .cr3 = 0x40000 };
	uint64_t gpa, size;
	uint32_t pf;
	T_ASSERT(walk(&p, 0x3456, 0, &gpa, &size, &pf) == 0 && gpa == 0xa456);
	/* Without CR4.PSE the PS bit is ignored: PD[2] points to a table, here 0x806000,
	 * outside RAM (a failed read: -EFAULT with no #PF code). */
	T_ASSERT(walk(&p, 0x00812345, 0, &gpa, &size, &pf) == -EFAULT && pf == 0);
	p.cr4 = CR4_PSE;
	T_ASSERT(walk(&p, 0x00812345, 0, &gpa, &size, &pf) == 0);
	T_ASSERT(gpa == 0x300812345ull && size == MiB(4));
	return true;
}

static bool non_canonical_tables_outside_ram_and_la57(void)
{
	struct guest_paging p = long_mode_tables();
	uint64_t gpa, size;
	uint32_t pf = 9;
	T_ASSERT(walk(&p, 0x0000800000000000ull, 0, &gpa, &size, &pf) == -EFAULT && pf == 0);
	p.cr3 = RAM_SIZE + 0x1000; /* PML4 outside RAM */
	T_ASSERT(walk(&p, 0x1000, 0, &gpa, &size, &pf) == -EFAULT && pf == 0);
	p.cr4 |= CR4_LA57;
	T_ASSERT(walk(&p, 0x1000, 0, &gpa, &size, &pf) == -ENOTSUP);
	return true;
}

/* Random entries in every table slot a walk can reach: no crash, no read outside RAM
 * (ASan), and a success keeps the address's offset inside its page. */
static bool random_tables_keep_promises(void)
{
	fake_rng_state = 0x5eed1234;
	for (unsigned round = 0; round < 200; round++) {
		for (uint64_t i = 0; i < 0x10000; i += 8)
			put64(i, fake_rng_next() & (round & 1 ? ~0ull : 0x80000000000FF0FFull));
		for (uint64_t i = 0; i < 0x10000; i += 8) /* point some at the low tables */
			if (fake_rng_next() & 1)
				put64(i, (fake_rng_next() & 0xF000) | (fake_rng_next() & 0x87));
		struct guest_paging p = { .cr0 = CR0_PG | CR0_PE,
					  .cr3 = fake_rng_next() & 0xF000,
					  .cr4 = fake_rng_next() & (CR4_PAE | CR4_PSE),
					  .efer = fake_rng_next() & EFER_NXE };
		if (round & 2)
			p.efer |= EFER_LMA, p.cr4 |= CR4_PAE;
		for (unsigned i = 0; i < 4; i++)
			p.pdpte[i] = fake_rng_next() & 0xF0FF;
		for (unsigned n = 0; n < 500; n++) {
			uint64_t la = fake_rng_next(), gpa, size;
			uint32_t pf;
			if (round & 4)
				la = (uint64_t)((int64_t)(la << 16) >> 16);
			int err = walk(&p, la, (unsigned)fake_rng_next() & 0xF, &gpa, &size, &pf);
			T_ASSERT(err == 0 || err == -EFAULT);
			if (!err)
				T_ASSERT(((gpa ^ la) & (size - 1)) == 0);
		}
	}
	return true;
}

static const struct fake_test tests[] = {
	{ "paging_off_is_identity_in_32_bits", paging_off_is_identity_in_32_bits },
	{ "four_level_leaves_of_every_size", four_level_leaves_of_every_size },
	{ "not_present_fault_codes_say_the_access", not_present_fault_codes_say_the_access },
	{ "rights_checked_only_when_asked", rights_checked_only_when_asked },
	{ "reserved_bits_fault_with_rsvd", reserved_bits_fault_with_rsvd },
	{ "pae_uses_the_pdpte_registers", pae_uses_the_pdpte_registers },
	{ "thirty_two_bit_paging_4k_and_4m", thirty_two_bit_paging_4k_and_4m },
	{ "non_canonical_tables_outside_ram_and_la57", non_canonical_tables_outside_ram_and_la57 },
	{ "random_tables_keep_promises", random_tables_keep_promises },
};

int main(int argc, char **argv)
{
	return fake_run_tests(tests, ARRAY_SIZE(tests), argc, argv, NULL);
}
