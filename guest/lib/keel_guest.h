/*
 * The Keel guest library: what a C guest (64-bit long mode or 32-bit protected mode)
 * uses to talk to Keel. Hypercall stubs (keel_hypercalls.h, generated), the UART and
 * exit port, printf/snprintf, TAP helpers and the few string functions the compiler may
 * call. Freestanding: no libc, no libgcc (the 32-bit build has no 64-bit division).
 *
 * A guest defines guest_main; crt0.asm calls it on every vCPU with the loader's entry
 * registers and ends the whole guest with its return value (KEEL_HC_EXIT).
 * Pointers are guest-physical addresses: long mode is identity-mapped, 32-bit mode runs
 * with paging off.
 */
#ifndef KEEL_GUEST_H
#define KEEL_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uapi/keel_hypercall.h>

#define KiB(x) ((uintptr_t)(x) << 10)
#define MiB(x) ((uintptr_t)(x) << 20)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* arg: the description's arg= (0 if absent); vcpu: 0..vcpu_count-1. */
int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count);

/* ---- Hypercalls: keel_hypercall and one stub per hypercall, keel_NAME (generated from
 * include/uapi/hypercalls.tab: keel_console_write, keel_exit, keel_nop, ...). */
#include "keel_hypercalls.h"

/* ---- Ports, CPU */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static inline void cpu_pause(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t val)
{
	__asm__ volatile("wrmsr"
			 :
			 : "c"(msr), "a"((uint32_t)val), "d"((uint32_t)(val >> 32))
			 : "memory");
}

/* LIDT of a table of limit + 1 bytes (an IDTR of this width: 32- or 64-bit base). */
static inline void lidt_at(const void *table, uint16_t limit)
{
	struct {
		uint16_t limit;
		uintptr_t base;
	} __attribute__((packed)) r = { limit, (uintptr_t)table };
	__asm__ volatile("lidt %0" : : "m"(r) : "memory");
}

/* "sti; hlt": waits for the next interrupt (STI's shadow covers HLT). */
static inline void sti_hlt(void)
{
	__asm__ volatile("sti; hlt" ::: "memory");
}

static inline void cli(void)
{
	__asm__ volatile("cli" ::: "memory");
}

static inline void sti(void)
{
	__asm__ volatile("sti" ::: "memory");
}

/* Ends the guest through the exit port 0xF4 (status 0..255). */
__attribute__((noreturn)) static inline void keel_port_exit(uint8_t status)
{
	outb(KEEL_GUEST_EXIT_PORT, status);
	for (;;)
		__asm__ volatile("hlt");
}

/* ---- Output (printf.c, uart.c) */

#define KEEL_PRINTF(f, a) __attribute__((format(printf, f, a)))

/*
 * printf writes through console_write, one hypercall per line (or per 128 bytes of a
 * longer line); text after the last newline is written when the call returns. The
 * buffer lives on the caller's stack, so vCPUs may print at the same time.
 * Conversions: %d %i %u %x %X %c %s %p %%, lengths l ll z, flags - 0, width (or *).
 */
int printf(const char *fmt, ...) KEEL_PRINTF(1, 2);
/* Where printf's lines go: the console hypercall, unless the program links its own. */
void guest_console_write(const char *buf, size_t len);
int vprintf(const char *fmt, va_list ap);
/* Returns the length the whole output would have; writes at most size - 1 chars + NUL. */
int snprintf(char *buf, size_t size, const char *fmt, ...) KEEL_PRINTF(3, 4);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* The emulated 16550 at KEEL_GUEST_UART, transmit only. */
void uart_putc(char c);
void uart_puts(const char *s);

/* ---- TAP (tap.c): one vCPU only. */

void tap_plan(unsigned count);
/* Prints "ok N - MESSAGE" or "not ok N - MESSAGE"; returns cond. */
bool tap_ok(bool cond, const char *fmt, ...) KEEL_PRINTF(2, 3);
/* Prints "# passed P failed F"; returns F (a plan not met counts as one failure more). */
int tap_done(void);

/* ---- sync.c */

/* Waits until *flag (set by another vCPU with a release store) is non-zero, for at most
 * `spins` pauses (a bound on a test's wait, not a timing); true if it was set. */
bool wait_flag(const unsigned *flag, unsigned spins);

/* ---- string.c */

void *memset(void *dst, int c, size_t len);
void *memcpy(void *dst, const void *src, size_t len);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif
