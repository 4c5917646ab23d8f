/*
 * hello64 / hello32: the C library's proof, one source built as a long-mode ELF64 and
 * as a 32-bit protected-mode ELF32 guest. Prints a table through printf, checks the
 * entry registers, the CPU mode Keel set up, CPUID, the hypercalls and the formatter
 * (64-bit numbers in the 32-bit build, without libgcc) as TAP lines.
 * Expected (vcpus=1): exit status 0 (= failures).
 */
#include "keel_guest.h"

#ifdef __x86_64__
#define HELLO_NAME "hello64"
#define HELLO_CS 0x08 /* the loader's 64-bit code segment */
#else
#define HELLO_NAME "hello32"
#define HELLO_CS 0x18 /* the loader's 32-bit code segment */
#endif

#define CR0_PE 0x1ul
#define CR0_PG 0x80000000ul
#define EFAULT_RET (-14)

static unsigned long read_cr0(void)
{
	unsigned long v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static unsigned read_cs(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs;
}

static void print_table(void)
{
	uint64_t p = 1;
	printf("%s: %3s %20s %16s\n", HELLO_NAME, "n", "10^n", "hex");
	for (unsigned n = 0; n <= 19; n += 3, p *= 1000)
		printf("%s: %3u %20llu %016llx\n", HELLO_NAME, n, (unsigned long long)p,
		       (unsigned long long)p);
}

/* TAP-checks that snprintf(fmt, ...) gives want. */
static void check_format(const char *want, const char *fmt, ...) KEEL_PRINTF(2, 3);
static void check_format(const char *want, const char *fmt, ...)
{
	char got[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(got, sizeof(got), fmt, ap);
	va_end(ap);
	tap_ok(!strcmp(got, want), "snprintf \"%s\" gives \"%s\" (want \"%s\")", fmt, got, want);
}

static void check_formats(void)
{
	check_format("-2147483648 4000000000", "%d %u", (int)-2147483647 - 1, 4000000000u);
	check_format("18446744073709551615", "%llu", (unsigned long long)UINT64_MAX);
	check_format("-9223372036854775808", "%lld", (long long)INT64_MIN);
	check_format("deadbeefcafef00d DEADBEEF", "%llx %X", 0xdeadbeefcafef00dull, 0xdeadbeefu);
	check_format("abcdef 12345", "%lx %zu", 0xabcdeful, (size_t)12345);
	check_format("0000002a|ab    |  -5|-0042", "%08x|%-6s|%4d|%05i", 0x2au, "ab", -5, -42);
	check_format("ok% 0x1000 [  7]", "%c%c%% %p [%*u]", 'o', 'k', (void *)0x1000, 3, 7u);
	char small[4];
	int n = snprintf(small, sizeof(small), "abcdef");
	tap_ok(n == 6 && !strcmp(small, "abc"), "snprintf truncates to \"%s\", returns %d", small,
	       n);
}

static void check_cpu(unsigned vcpu, unsigned vcpu_count)
{
	uint32_t a, b, c, d;
	unsigned long cr0 = read_cr0();
	tap_ok(vcpu == 0 && vcpu_count == 1, "entry registers: vCPU %u of %u", vcpu, vcpu_count);
	tap_ok(read_cs() == HELLO_CS, "CS = 0x%x (want 0x%x)", read_cs(), HELLO_CS);
#ifdef __x86_64__
	tap_ok((cr0 & CR0_PG) && (cr0 & CR0_PE), "CR0 0x%lx: protected mode, paging on", cr0);
#else
	tap_ok(!(cr0 & CR0_PG) && (cr0 & CR0_PE), "CR0 0x%lx: protected mode, paging off", cr0);
#endif
	cpuid(KEEL_CPUID_LEAF, &a, &b, &c, &d);
	tap_ok(b == 0x6C65654B, "CPUID 0x%x: ebx 0x%x is \"Keel\"", KEEL_CPUID_LEAF, b);
	cpuid(1, &a, &b, &c, &d);
	tap_ok(c & (1u << 31), "CPUID 1: hypervisor bit set (ecx 0x%x)", c);
}

static void check_hypercalls(unsigned vcpu)
{
	static const char line[] = HELLO_NAME ": hello from console_write\n";
	long n = keel_console_write(line, sizeof(line) - 1);
	tap_ok(n == (long)sizeof(line) - 1, "console_write returns the length (%ld)", n);
	n = keel_console_write((const void *)MiB(1024), 16);
	tap_ok(n == EFAULT_RET, "console_write at 1 GiB returns -EFAULT (%ld)", n);
	n = keel_nop();
	tap_ok(n == 0, "nop returns 0 (%ld)", n);
	n = keel_vcpu_info();
	tap_ok(n == (long)vcpu, "vcpu_id returns %ld (want %u)", n, vcpu);
	n = keel_guest_pages();
	tap_ok(n > 0, "guest_pages returns %ld (> 0)", n);
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	printf("%s: C guest, %u-bit, arg %lu\n", HELLO_NAME, (unsigned)sizeof(void *) * 8,
	       (unsigned long)arg);
	print_table();
	tap_plan(18);
	check_cpu(vcpu, vcpu_count);
	check_hypercalls(vcpu);
	check_formats();
	return tap_done();
}
