/*
 * CHECK(cond): always-on assertion for states that must never occur. It panics with
 * file, line and the expression. Never use it for anything a guest, a user program or
 * the command line controls: those get an error code.
 * The kernel's panic prints a register dump and stops all CPUs; the host tests'
 * version aborts the process.
 */
#ifndef KEEL_CHECK_H
#define KEEL_CHECK_H

#include <keel/compiler.h>

__noreturn __printf(3, 4) void panic_at(const char *file, int line, const char *fmt, ...);

#define panic(...) panic_at(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (unlikely(!(cond)))                                           \
			panic_at(__FILE__, __LINE__, "CHECK(%s) failed", #cond); \
	} while (0)

#endif
