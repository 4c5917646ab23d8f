/*
 * System calls (the ABI: include/uapi/syscalls.tab): the table of handlers indexed by
 * number (syscall_table.c, generated from that file), what a handler receives, and the
 * generic step that checks and pins the arguments once, before the handler runs
 * (syscall.c). Shaped like the hypercalls of vmm/hypercall.h.
 */
#ifndef KERNEL_USER_SYSCALL_H
#define KERNEL_USER_SYSCALL_H

#include <keel/user.h>

#include "user.h"

enum sys_arg_kind {
	SYS_ARG_U64, /* a number in [min, max] */
	SYS_ARG_S64, /* a signed number */
	SYS_ARG_UVA, /* a user address, handed over as a number (not pinned) */
	SYS_ARG_IN,  /* a user buffer the kernel reads, len_arg's value bytes, pinned */
	SYS_ARG_OUT, /* a user buffer the kernel writes, pinned writable */
	SYS_ARG_STR, /* a NUL-terminated string of at most max bytes, copied in once */
};

struct sys_arg {
	enum sys_arg_kind kind;
	uint64_t min, max; /* SYS_ARG_U64: else -EINVAL; SYS_ARG_STR: the longest, NUL included */
	unsigned len_arg;  /* SYS_ARG_IN/OUT: the argument holding the length, */
	uint64_t size;	   /* or, when not 0, the buffer's fixed size */
};

/* What a handler gets: the values, pins over exactly the buffers (none when a length is
 * 0), strings copied into kernel memory. Dropped after the handler returns. */
struct sys_args {
	uint64_t val[USER_ARG_MAX];
	struct vm_pin pin[USER_ARG_MAX];
	bool pinned[USER_ARG_MAX];
	char *str[USER_ARG_MAX]; /* SYS_ARG_STR: kmalloc'd copy */
};

/* SYS_HANDLER(write) { ... }: returns the result for rax (>= 0 or a negative errno). */
#define SYS_HANDLER(name) int64_t sys_##name(struct process *p, struct sys_args *a)

struct syscall {
	const char *name;
	int64_t (*fn)(struct process *p, struct sys_args *a);
	unsigned arg_count;
	struct sys_arg arg[USER_ARG_MAX];
};

/* The table, KEEL_SYS_COUNT entries (syscall_table.c, generated). */
extern const struct syscall syscalls[];

/* Pins [va, va + len) of p's space for `access`: 0 or -EFAULT (a wild pointer: not
 * mapped with the access, or outside the space) or -ENOMEM. */
int sys_pin(struct process *p, uint64_t va, uint64_t len, unsigned access,
	    struct vm_pin *pin) __must_check;

#endif
