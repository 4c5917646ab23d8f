/*
 * The Keel user runtime: what a user program links with (tests/user/lib). System-call
 * stubs (keel_syscalls.h, generated from include/uapi/syscalls.tab: sys_write, sys_exit,
 * ...), printf, TAP, threads on mmap'd stacks, a futex-based lock, a bump allocator on
 * the demand-paged heap, and the string functions the compiler may call. Freestanding.
 * TAP and the basic string functions are the guest library's own files (guest/lib/tap.c,
 * string.c), which need nothing but printf and vsnprintf.
 *
 * A program defines main(arg): arg is the description's arg= string ("" if none); its
 * return value is the process's exit status.
 */
#ifndef KEEL_USER_RUNTIME_H
#define KEEL_USER_RUNTIME_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel_syscalls.h"

#define UPAGE 4096ul
#define PRINTF_FMT(f, a) __attribute__((format(printf, f, a)))

int main(const char *arg);

/* ---- printf.c: output through sys_write, a line at a time */
int printf(const char *fmt, ...) PRINTF_FMT(1, 2);
int snprintf(char *buf, size_t size, const char *fmt, ...) PRINTF_FMT(3, 4);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* ---- TAP: guest/lib/tap.c, linked as it is (main thread only: plain counters) */
void tap_plan(unsigned count);
bool tap_ok(bool cond, const char *fmt, ...) PRINTF_FMT(2, 3);
/* The exit status: 0 when every test passed and the plan was met. */
int tap_done(void);

/* ---- thread.c */
/* Starts fn(arg) in a new thread on a fresh 64 KiB mmap'd stack; its return value is
 * what user_thread_join returns. The tid, or a negative errno. */
long user_thread_start(long (*fn)(void *arg), void *arg);
long user_thread_join(long tid);
/* A lock over a futex word (0 free, 1 held, 2 held with sleepers). */
struct user_lock {
	uint32_t word;
};
void user_lock(struct user_lock *l);
void user_unlock(struct user_lock *l);
/* Bytes from the demand-paged heap (never freed). NULL when it is used up. */
void *user_alloc(size_t len);

/* A small seeded generator (xorshift64*). */
static inline uint64_t user_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* ---- guest/lib/string.c (memset, memcpy, strlen, strcmp) and string.c */
void *memset(void *dst, int c, size_t len);
void *memcpy(void *dst, const void *src, size_t len);
int memcmp(const void *a, const void *b, size_t len);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
long user_atol(const char *s);

#endif
