/*
 * The system-call step (syscall.h): finds the call in the table, checks numbers against
 * their bounds, pins buffers and copies strings in (a string is pinned a page at a time
 * up to its NUL, at most max bytes: a bounded pin-until-terminator), runs the handler
 * and drops the pins on every path. Unknown numbers: -ENOSYS; wild pointers: -EFAULT.
 */
#include <keel/check.h>
#include <keel/errno.h>
#include <keel/heap.h>
#include <keel/string.h>

#include "syscall.h"

int sys_pin(struct process *p, uint64_t va, uint64_t len, unsigned access, struct vm_pin *pin)
{
	int rc = vm_space_pin(&p->space, VA(va), len, access | VM_ACCESS_USER, pin);

	return rc == -EINVAL || rc == -E2BIG ? -EFAULT : rc;
}

/* Copies the string at va (at most max bytes with its NUL) into a new kernel buffer. */
static int sys_copy_str(struct process *p, uint64_t va, uint64_t max, char **out)
{
	char *s = kmalloc(max);
	uint64_t got = 0;

	if (!s)
		return -ENOMEM;
	while (got < max) {
		uint64_t chunk = MIN(max - got, PAGE_SIZE - ((va + got) & PAGE_MASK));
		struct vm_pin pin;
		int rc = sys_pin(p, va + got, chunk, VM_ACCESS_READ, &pin);

		if (rc) {
			kfree(s);
			return rc;
		}
		rc = vm_pin_read(&pin, 0, s + got, chunk);
		vm_space_unpin(&pin);
		CHECK(rc == 0); /* [0, chunk) lies inside the pin */
		for (uint64_t i = got; i < got + chunk; i++)
			if (!s[i]) {
				*out = s;
				return 0;
			}
		got += chunk;
	}
	kfree(s);
	return -EINVAL; /* no NUL within max bytes */
}

static void sys_args_release(const struct syscall *h, struct sys_args *a)
{
	for (unsigned i = 0; i < h->arg_count; i++) {
		if (a->pinned[i])
			vm_space_unpin(&a->pin[i]);
		kfree(a->str[i]);
		a->pinned[i] = false;
		a->str[i] = NULL;
	}
}

/* Checks and pins argument i. */
static int sys_arg_unpack(struct process *p, const struct syscall *h, unsigned i,
			  struct sys_args *a)
{
	const struct sys_arg *d = &h->arg[i];
	uint64_t v = a->val[i], len;
	int rc;

	switch (d->kind) {
	case SYS_ARG_U64:
		return v < d->min || v > d->max ? -EINVAL : 0;
	case SYS_ARG_S64:
	case SYS_ARG_UVA:
		return 0;
	case SYS_ARG_STR:
		return sys_copy_str(p, v, d->max, &a->str[i]);
	case SYS_ARG_IN:
	case SYS_ARG_OUT:
		len = d->size ? d->size : a->val[d->len_arg];
		if (!len)
			return 0;
		rc = sys_pin(p, v, len, d->kind == SYS_ARG_OUT ? VM_ACCESS_WRITE : VM_ACCESS_READ,
			     &a->pin[i]);
		a->pinned[i] = rc == 0;
		return rc;
	}
	return -EINVAL;
}

/* Numbers first (a length is checked before a buffer uses it), then buffers. */
static int sys_args_unpack(struct process *p, const struct syscall *h, struct sys_args *a)
{
	int rc = 0;

	for (unsigned pass = 0; pass < 2 && !rc; pass++)
		for (unsigned i = 0; i < h->arg_count && !rc; i++) {
			bool number = h->arg[i].kind == SYS_ARG_U64 ||
				      h->arg[i].kind == SYS_ARG_S64 ||
				      h->arg[i].kind == SYS_ARG_UVA;

			if (number == (pass == 0))
				rc = sys_arg_unpack(p, h, i, a);
		}
	if (rc)
		sys_args_release(h, a);
	return rc;
}

int64_t user_syscall(uint64_t nr, const uint64_t arg[USER_ARG_MAX])
{
	struct process *p = uthread_self()->p;
	const struct syscall *h = nr < KEEL_SYS_COUNT ? &syscalls[nr] : NULL;
	struct sys_args a = { 0 };
	int64_t ret;
	int rc;

	__atomic_fetch_add(&p->syscall_count, 1, __ATOMIC_RELAXED);
	if (!h || !h->fn)
		return -ENOSYS;
	memcpy(a.val, arg, sizeof(a.val));
	rc = sys_args_unpack(p, h, &a);
	if (rc)
		return rc;
	ret = h->fn(p, &a);
	sys_args_release(h, &a);
	return ret;
}
