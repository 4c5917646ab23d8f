/*
 * The system-call ABI from ring 3: unknown numbers get -ENOSYS, wild pointers -EFAULT
 * (and the process goes on), bounds -EINVAL; mmap, munmap and mprotect; threads with
 * their values; futexes; sleep; a lock shared by threads.
 */
#include "keel_user.h"

#define WORKERS 4
#define ROUNDS 2000

static long raw(long nr, long a, long b, long c)
{
	return keel_syscall((unsigned long)nr, (unsigned long)a, (unsigned long)b,
			    (unsigned long)c);
}

static void bad_numbers(void)
{
	tap_ok(raw(KEEL_SYS_COUNT, 0, 0, 0) == -38, "the first unknown number is -ENOSYS");
	tap_ok(raw(1000000, 0, 0, 0) == -38, "a large number is -ENOSYS");
	tap_ok(raw(-1, 0, 0, 0) == -38, "number -1 is -ENOSYS");
}

static void wild_pointers(void)
{
	long mapped = sys_mmap(0, UPAGE, KEEL_PROT_READ | KEEL_PROT_WRITE);
	char *end = (char *)mapped + UPAGE - 3;

	tap_ok(sys_write(NULL, 5) == -14, "write from NULL is -EFAULT");
	tap_ok(sys_write((void *)0xFFFFFFFF80100000ull, 8) == -14,
	       "write from the kernel is -EFAULT");
	tap_ok(sys_write((void *)0x8000000000000000ull, 8) == -14,
	       "a non-canonical buffer is -EFAULT");
	tap_ok(sys_write((void *)(KEEL_MMAP_END - 64), 8) == -14, "an unmapped buffer is -EFAULT");
	tap_ok(sys_write(end, 8) == -14, "a buffer running off its mapping is -EFAULT");
	memcpy(end, "abc", 3); /* no NUL before the mapping ends */
	tap_ok(sys_puts(end) == -14, "an unterminated string at a mapping's end is -EFAULT");
	tap_ok(sys_puts((const char *)0x10) == -14, "a string at a wild address is -EFAULT");
	tap_ok(sys_write("x", KEEL_SYS_WRITE_MAX + 1) == -22,
	       "a length above the bound is -EINVAL");
	tap_ok(sys_futex_wait(mapped + 2, 0, 0) == -22, "a misaligned futex word is -EINVAL");
	tap_ok(sys_futex_wait(0x1000, 0, 0) == -14, "a futex word at a wild address is -EFAULT");
	tap_ok(sys_thread_create(0x8000000000000000ull, 0, 0x1000) == -22,
	       "a thread entry outside user space is -EINVAL");
	sys_munmap(mapped, UPAGE);
}

static void memory(void)
{
	long a = sys_mmap(0, 3 * UPAGE, KEEL_PROT_READ | KEEL_PROT_WRITE);
	volatile uint64_t *p = (volatile uint64_t *)a;

	tap_ok(a >= (long)KEEL_MMAP_BASE && a < (long)KEEL_MMAP_END,
	       "mmap places memory in the window");
	tap_ok(p[0] == 0 && p[1024] == 0, "mmap'd memory is zero");
	p[0] = 42;
	tap_ok(sys_mprotect(a, UPAGE, KEEL_PROT_READ) == 0, "mprotect to read-only");
	tap_ok(p[0] == 42, "a read-only page still reads");
	tap_ok(sys_mprotect(a, UPAGE, KEEL_PROT_WRITE) == -22, "write-only is refused (-EINVAL)");
	tap_ok(sys_mmap(a, UPAGE, KEEL_PROT_READ) == -17, "mmap over a mapping is -EEXIST");
	tap_ok(sys_mmap(0x1000, UPAGE, KEEL_PROT_READ) == -22,
	       "mmap outside the window is -EINVAL");
	tap_ok(sys_munmap(a + UPAGE, UPAGE) == 0, "munmap of the middle page");
	tap_ok(sys_mprotect(a, 3 * UPAGE, KEEL_PROT_READ) == -14,
	       "mprotect over a hole is -EFAULT");
	tap_ok(sys_write((void *)(a + UPAGE), 1) == -14, "the unmapped page is gone");
	tap_ok(sys_mmap(a + UPAGE, UPAGE, KEEL_PROT_READ | KEEL_PROT_WRITE) == a + (long)UPAGE,
	       "mmap at a fixed address fills the hole");
	tap_ok(sys_munmap(a + 1, UPAGE) == -22, "munmap of an unaligned address is -EINVAL");
	tap_ok(sys_munmap(a, 3 * UPAGE) == 0, "munmap of the whole mapping");
}

struct shared {
	struct user_lock lock;
	long counter;
	uint32_t gate;
};

static long worker(void *arg)
{
	struct shared *s = arg;

	while (!__atomic_load_n(&s->gate, __ATOMIC_ACQUIRE))
		sys_futex_wait((uintptr_t)&s->gate, 0, 0);
	for (int i = 0; i < ROUNDS; i++) {
		user_lock(&s->lock);
		s->counter++;
		user_unlock(&s->lock);
	}
	return 1000 + s->counter % 1; /* 1000: the value join returns */
}

static void threads(void)
{
	static struct shared s;
	long tid[WORKERS], joined = 0;

	for (int i = 0; i < WORKERS; i++)
		tid[i] = user_thread_start(worker, &s);
	tap_ok(tid[0] > 0 && tid[WORKERS - 1] > 0, "threads start (tids %ld..%ld)", tid[0],
	       tid[WORKERS - 1]);
	sys_sleep(20); /* not a synchronisation: gives the workers time to sleep on the gate */
	__atomic_store_n(&s.gate, 1, __ATOMIC_RELEASE);
	sys_futex_wake((uintptr_t)&s.gate, WORKERS);
	for (int i = 0; i < WORKERS; i++)
		joined += user_thread_join(tid[i]) == 1000;
	tap_ok(joined == WORKERS, "every thread is joined with its value");
	tap_ok(s.counter == WORKERS * ROUNDS, "the futex lock loses no increment (%ld)", s.counter);
	tap_ok(user_thread_join(tid[0]) == -3, "a joined thread is gone: -ESRCH");
	tap_ok(sys_thread_join(KEEL_THREADS_MAX) == -3, "a tid never used: -ESRCH");
	tap_ok(sys_thread_join(KEEL_THREADS_MAX + 1) == -22, "a tid out of range: -EINVAL");
}

static void futex_and_sleep(void)
{
	uint32_t word = 7;
	long t0 = sys_clock();

	tap_ok(sys_futex_wait((uintptr_t)&word, 8, 0) == -11,
	       "futex_wait on another value: -EAGAIN");
	long rc, tries = 0, t1 = sys_clock();

	do /* a wake of another futex in the same hash bucket is a spurious wake-up (0) */
		rc = sys_futex_wait((uintptr_t)&word, 7, 30);
	while (rc == 0 && ++tries < 100);
	tap_ok(rc == -110 && sys_clock() - t1 >= 30000000, "futex_wait times out: -ETIMEDOUT");
	tap_ok(sys_sleep(20) == 0 && sys_clock() - t0 >= 50000000, "sleep sleeps");
}

int main(const char *arg)
{
	(void)arg;
	tap_plan(36);
	bad_numbers();
	wild_pointers();
	memory();
	threads();
	futex_and_sleep();
	return tap_done();
}
