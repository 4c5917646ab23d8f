/*
 * ACPI table discovery, just enough for SMP: the RSDP, the RSDT/XSDT and the MADT
 * (processor local APIC / x2APIC entries, I/O APICs, the local APIC address and its
 * 64-bit override). Reads firmware memory through the direct map and never writes it.
 * Layouts: ACPI Specification 6.5, 5.2.5 (RSDP), 5.2.6 (table header), 5.2.7 (RSDT),
 * 5.2.8 (XSDT), 5.2.12 (MADT) and 5.2.12.2/.3/.8/.12 (its entries).
 * Knows nothing about how the APIC is programmed (apic.c) or CPUs started (smp.c).
 */
#include <arch/acpi.h>
#include <arch/x86.h>
#include <keel/boot.h>
#include <keel/printk.h>
#include <keel/string.h>

struct acpi_info acpi_info;

struct rsdp {
	char sig[8];	  /* "RSD PTR " */
	uint8_t checksum; /* bytes 0-19 sum to 0 */
	char oem_id[6];
	uint8_t revision; /* 0: ACPI 1.0; 2: 2.0+ with the fields below */
	uint32_t rsdt_pa;
	uint32_t length;
	uint64_t xsdt_pa;
	uint8_t ext_checksum; /* all length bytes sum to 0 */
	uint8_t reserved[3];
} __packed;

struct sdt_header {
	char sig[4];
	uint32_t length; /* whole table, header included */
	uint8_t revision;
	uint8_t checksum; /* all length bytes sum to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision, creator_id, creator_revision;
} __packed;

struct madt {
	struct sdt_header h;
	uint32_t lapic_pa;
	uint32_t flags; /* bit 0: PCAT_COMPAT */
	uint8_t entries[];
} __packed;

/* MADT interrupt controller structure types (ACPI 6.5 Table 5.21). */
enum {
	MADT_LAPIC = 0,
	MADT_IOAPIC = 1,
	MADT_LAPIC_ADDR_OVERRIDE = 5,
	MADT_X2APIC = 9,
};
#define MADT_CPU_ENABLED (1u << 0) /* Local APIC Flags (ACPI 6.5 Table 5.23) */
#define MADT_PCAT_COMPAT (1u << 0)

#define ACPI_TABLE_MAX_LEN MiB(1)      /* sanity bound: real tables are far smaller */
#define DEFAULT_LAPIC_PA 0xFEE00000ull /* SDM Vol 3A 11.4.1 "The Local APIC Block Diagram" */

/* Kernel pointer to [pa, pa + len) if the direct map covers it, else NULL. */
static const void *acpi_map(uint64_t pa, uint64_t len)
{
	uint64_t end = boot_info.direct_map_end ? boot_info.direct_map_end : GiB(4);
	if (pa == 0 || len > end || pa > end - len)
		return NULL;
	return pa_to_kva(PA(pa));
}

static bool checksum_ok(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return sum == 0;
}

static const struct rsdp *rsdp_scan(uint64_t pa, uint64_t len)
{
	for (uint64_t off = 0; off + 20 <= len; off += 16) {
		const struct rsdp *r = acpi_map(pa + off, 20);
		if (!r || memcmp(r->sig, "RSD PTR ", 8) != 0)
			continue;
		if (!checksum_ok(r, 20)) {
			printk(KERN_WARN "acpi: RSDP at %llx has a bad checksum; skipped\n",
			       (unsigned long long)(pa + off));
			continue;
		}
		if (r->revision >= 2 &&
		    (!acpi_map(pa + off, sizeof(*r)) || !checksum_ok(r, sizeof(*r)))) {
			printk(KERN_WARN "acpi: RSDP at %llx: bad extended checksum; skipped\n",
			       (unsigned long long)(pa + off));
			continue;
		}
		return r;
	}
	return NULL;
}

/* ACPI 6.5 5.2.5.1: the first KiB of the EBDA (segment at 0x40E), then 0xE0000-0xFFFFF,
 * on 16-byte boundaries. */
static const struct rsdp *rsdp_find(void)
{
	const uint16_t *ebda_seg = acpi_map(0x40E, 2);
	uint64_t ebda = ebda_seg ? (uint64_t)*ebda_seg << 4 : 0;
	const struct rsdp *r = NULL;
	if (ebda >= 0x80000 && ebda < 0xA0000)
		r = rsdp_scan(ebda, KiB(1));
	if (!r)
		r = rsdp_scan(0xE0000, 0x20000);
	return r;
}

/* The table at pa if it is mapped, of sane length, and its checksum is right. */
static const struct sdt_header *sdt_get(uint64_t pa)
{
	const struct sdt_header *h = acpi_map(pa, sizeof(*h));
	if (!h || h->length < sizeof(*h) || h->length > ACPI_TABLE_MAX_LEN)
		return NULL;
	if (!acpi_map(pa, h->length))
		return NULL;
	if (!checksum_ok(h, h->length)) {
		printk(KERN_WARN "acpi: table %.4s at %llx has a bad checksum; ignored\n", h->sig,
		       (unsigned long long)pa);
		return NULL;
	}
	return h;
}

static const struct sdt_header *root_table; /* RSDT or XSDT, validated */
static bool root_is_xsdt;

const void *acpi_find_table(const char sig[4])
{
	if (!root_table)
		return NULL;
	size_t width = root_is_xsdt ? 8 : 4;
	size_t n = (root_table->length - sizeof(*root_table)) / width;
	const uint8_t *ents = (const uint8_t *)(root_table + 1);
	for (size_t i = 0; i < n; i++) {
		uint64_t pa = 0;
		memcpy(&pa, ents + i * width, width); /* XSDT entries are not 8-aligned */
		const struct sdt_header *h = acpi_map(pa, sizeof(*h));
		if (h && memcmp(h->sig, sig, 4) == 0 && (h = sdt_get(pa)))
			return h;
	}
	return NULL;
}

static void madt_add_cpu(uint32_t apic_id, uint32_t flags)
{
	struct acpi_info *ai = &acpi_info;
	if (!(flags & MADT_CPU_ENABLED))
		return; /* absent, or only hot-pluggable later ("online capable") */
	for (unsigned i = 0; i < ai->cpu_count; i++)
		if (ai->cpu_apic_ids[i] == apic_id)
			return; /* listed as both LAPIC and x2APIC: keep one */
	if (ai->cpu_count == MAX_CPUS) {
		ai->cpus_ignored++;
		return;
	}
	ai->cpu_apic_ids[ai->cpu_count++] = apic_id;
}

static void madt_add_ioapic(const uint8_t *e)
{
	struct acpi_info *ai = &acpi_info;
	uint32_t pa, gsi;
	memcpy(&pa, e + 4, 4);
	memcpy(&gsi, e + 8, 4);
	if (ai->ioapic_count < ACPI_MAX_IOAPICS)
		ai->ioapics[ai->ioapic_count++] =
		    (struct acpi_ioapic){ .id = e[2], .base = PA(pa), .gsi_base = gsi };
}

/* Walks the MADT's variable-length entries (ACPI 6.5 5.2.12.2 ff.). */
static void madt_parse(const struct madt *m)
{
	struct acpi_info *ai = &acpi_info;
	ai->lapic_base = PA(m->lapic_pa);
	ai->pcat_compat = m->flags & MADT_PCAT_COMPAT;
	const uint8_t *p = m->entries, *end = (const uint8_t *)m + m->h.length;
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		uint32_t u32;
		uint64_t u64;
		switch (p[0]) {
		case MADT_LAPIC: /* uid u8, APIC ID u8, flags u32 */
			if (p[1] >= 8) {
				memcpy(&u32, p + 4, 4);
				madt_add_cpu(p[3], u32);
			}
			break;
		case MADT_X2APIC: /* reserved u16, x2APIC ID u32, flags u32, uid u32 */
			if (p[1] >= 16) {
				uint32_t id;
				memcpy(&id, p + 4, 4);
				memcpy(&u32, p + 8, 4);
				madt_add_cpu(id, u32);
			}
			break;
		case MADT_IOAPIC:
			if (p[1] >= 12)
				madt_add_ioapic(p);
			break;
		case MADT_LAPIC_ADDR_OVERRIDE: /* reserved u16, address u64 */
			if (p[1] >= 12) {
				memcpy(&u64, p + 4, 8);
				ai->lapic_base = PA(u64);
			}
			break;
		}
		p += p[1];
	}
	if (p != end)
		printk(KERN_WARN "acpi: MADT entry list malformed at offset %llu; rest ignored\n",
		       (unsigned long long)(p - (const uint8_t *)m));
}

static void acpi_fallback(const char *why)
{
	printk(KERN_ERR "acpi: %s; assuming a single CPU at the default APIC address\n", why);
	acpi_info.have_madt = false;
	acpi_info.cpu_count = 0;
	acpi_info.lapic_base = PA(DEFAULT_LAPIC_PA);
	acpi_info.pcat_compat = true;
}

static const char *root_table_find(const struct rsdp *r)
{
	acpi_info.revision = r->revision;
	if (r->revision >= 2 && r->xsdt_pa) {
		root_table = sdt_get(r->xsdt_pa);
		root_is_xsdt = root_table && memcmp(root_table->sig, "XSDT", 4) == 0;
		if (root_is_xsdt)
			return NULL;
		printk(KERN_WARN "acpi: XSDT at %llx unusable; trying the RSDT\n",
		       (unsigned long long)r->xsdt_pa);
	}
	root_table = sdt_get(r->rsdt_pa);
	root_is_xsdt = false;
	if (!root_table || memcmp(root_table->sig, "RSDT", 4) != 0) {
		root_table = NULL;
		return "no valid RSDT/XSDT";
	}
	return NULL;
}

void acpi_init(void)
{
	memset(&acpi_info, 0, sizeof(acpi_info));
	const struct rsdp *r = rsdp_find();
	if (!r) {
		acpi_fallback("no RSDP found (EBDA, 0xE0000-0xFFFFF)");
		return;
	}
	const char *err = root_table_find(r);
	if (err) {
		acpi_fallback(err);
		return;
	}
	const struct madt *m = acpi_find_table("APIC");
	if (!m || m->h.length < sizeof(*m)) {
		acpi_fallback("no valid MADT (signature APIC)");
		return;
	}
	madt_parse(m);
	acpi_info.have_madt = true;
	printk("acpi: RSDP rev %u at %llx (%s), MADT: %u CPUs, %u I/O APICs, LAPIC at %llx%s\n",
	       r->revision, (unsigned long long)kva_to_pa(r).v, root_is_xsdt ? "XSDT" : "RSDT",
	       acpi_info.cpu_count, acpi_info.ioapic_count,
	       (unsigned long long)acpi_info.lapic_base.v,
	       acpi_info.pcat_compat ? ", 8259 PICs present" : "");
	if (acpi_info.cpus_ignored)
		printk(KERN_WARN "acpi: %u more enabled CPUs ignored (MAX_CPUS %d)\n",
		       acpi_info.cpus_ignored, MAX_CPUS);
	if (acpi_info.cpu_count == 0)
		acpi_fallback("MADT lists no enabled processor");
}
