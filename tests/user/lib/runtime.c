/* The runtime's start (crt0.asm calls user_main), the heap and threads. */
#include "keel_user.h"

__attribute__((noreturn)) void user_main(const char *arg);

void user_main(const char *arg)
{
	sys_exit(main(arg));
}

static uintptr_t heap_next = KEEL_HEAP_BASE;
static struct user_lock heap_lock;

void *user_alloc(size_t len)
{
	void *p = NULL;

	len = (len + 15) & ~(size_t)15;
	user_lock(&heap_lock);
	if (len <= KEEL_HEAP_BASE + KEEL_HEAP_SIZE - heap_next) {
		p = (void *)heap_next;
		heap_next += len;
	}
	user_unlock(&heap_lock);
	return p;
}

#define THREAD_STACK (64 * 1024)

struct start {
	long (*fn)(void *arg);
	void *arg;
};

__attribute__((noreturn)) static void thread_entry(struct start *s)
{
	sys_thread_exit(s->fn(s->arg));
}

long user_thread_start(long (*fn)(void *arg), void *arg)
{
	long stack = sys_mmap(0, THREAD_STACK, KEEL_PROT_READ | KEEL_PROT_WRITE);
	struct start *s;

	if (stack < 0)
		return stack;
	/* the start record sits at the stack's top; the thread's frames go below it */
	s = (struct start *)(stack + THREAD_STACK - 16);
	s->fn = fn;
	s->arg = arg;
	return sys_thread_create((uintptr_t)thread_entry, (unsigned long)s, (uintptr_t)s - 8);
}

long user_thread_join(long tid)
{
	return sys_thread_join((unsigned long)tid);
}

/* Drepper's futex mutex ("Futexes Are Tricky", mutex 2). */
void user_lock(struct user_lock *l)
{
	uint32_t c = 0;

	if (__atomic_compare_exchange_n(&l->word, &c, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	if (c != 2)
		c = __atomic_exchange_n(&l->word, 2, __ATOMIC_ACQUIRE);
	while (c != 0) {
		sys_futex_wait((uintptr_t)&l->word, 2, 0);
		c = __atomic_exchange_n(&l->word, 2, __ATOMIC_ACQUIRE);
	}
}

void user_unlock(struct user_lock *l)
{
	if (__atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE) != 1)
		sys_futex_wake((uintptr_t)&l->word, 1);
}
