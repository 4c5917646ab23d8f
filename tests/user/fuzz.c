/*
 * Seeded system-call fuzzing: CALLS calls with random numbers (known and unknown) and
 * arguments drawn from values that break things (0, -1, boundaries, wild pointers:
 * NULL, kernel, non-canonical, unmapped, a mapping's last bytes). Every result must be
 * a success or an errno the call may return, and the process must survive: the kernel
 * never faults. Calls that end the process or would block for long get arguments that
 * cannot (exit is never called; sleeps and futex waits are bounded). arg= the seed.
 */
#include "keel_user.h"

#define CALLS 10000
#define AREA_PAGES 16

static uint64_t seed = 0x6b65656c;
static long area; /* a mapping of AREA_PAGES pages the fuzzer may unmap and re-map */

static uint64_t pick_pointer(void)
{
	static const uint64_t wild[] = { 0,
					 8,
					 0xFFFFFFFF80100000ull,
					 0x8000000000000000ull,
					 0xFFFF800000000000ull,
					 KEEL_MMAP_END - 8,
					 0x00007FFFFFFFF000ull,
					 UINT64_MAX };
	uint64_t r = user_rand(&seed);

	if (r % 3 == 0)
		return wild[(r >> 8) % (sizeof(wild) / sizeof(wild[0]))];
	return (uint64_t)area + (r >> 8) % (AREA_PAGES * UPAGE); /* maybe unmapped by now */
}

static uint64_t pick_number(void)
{
	static const uint64_t edge[] = { 0,
					 1,
					 2,
					 7,
					 4095,
					 4096,
					 4097,
					 0x7FFFFFFF,
					 0xFFFFFFFF,
					 KEEL_SYS_WRITE_MAX,
					 KEEL_MMAP_MAX,
					 UINT64_MAX,
					 (uint64_t)INT64_MIN };
	uint64_t r = user_rand(&seed);

	return r % 2 ? edge[(r >> 8) % (sizeof(edge) / sizeof(edge[0]))] : r >> (r % 64);
}

/* Allowed results: >= 0 or one of these errnos (a superset of every call's list). */
static bool allowed(long ret)
{
	static const long ok[] = { -3, -4, -11, -12, -14, -17, -22, -28, -35, -38, -110 };

	if (ret >= 0)
		return true;
	for (unsigned i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (ret == ok[i])
			return true;
	return false;
}

/* One random call; the ones that could end the process or block are tamed. */
static long one_call(uint64_t *nr_out)
{
	uint64_t r = user_rand(&seed);
	uint64_t nr = r % 8 == 0 ? pick_number() : r % (KEEL_SYS_COUNT + 2);
	uint64_t a = r & 0x100 ? pick_pointer() : pick_number();
	uint64_t b = r & 0x200 ? pick_pointer() : pick_number();
	uint64_t c = pick_number();

	switch (nr) {
	case KEEL_SYS_EXIT:
	case KEEL_SYS_THREAD_EXIT:
		nr = KEEL_SYS_GETPID; /* never end the fuzzer */
		break;
	case KEEL_SYS_THREAD_CREATE:
		a = 0x8000000000000000ull | a; /* only bad entries */
		break;
	case KEEL_SYS_FUTEX_WAIT:
		c = 1 + c % 3; /* bounded */
		break;
	case KEEL_SYS_SLEEP:
		a %= 3;
		break;
	case KEEL_SYS_PIN_HOLD:
		b = 0; /* nothing pinned: -EINVAL, or -EFAULT first */
		break;
	case KEEL_SYS_MUNMAP:
	case KEEL_SYS_MPROTECT:
		if (!(r & 0x400)) /* keep the program itself: only the area or wild places */
			a = (uint64_t)area + ((r >> 12) % AREA_PAGES) * UPAGE;
		else
			a |= 0x8000000000000000ull;
		b %= 4 * UPAGE;
		break;
	case KEEL_SYS_MMAP:
		if (!(r & 0x800))
			a = 0;
		b %= 8 * UPAGE;
		break;
	}
	*nr_out = nr;
	return keel_syscall(nr, a, b, c);
}

int main(const char *arg)
{
	unsigned bad = 0, enosys = 0, efault = 0;

	if (arg[0])
		seed = (uint64_t)user_atol(arg) | 1;
	tap_plan(3);
	area = sys_mmap(0, AREA_PAGES * UPAGE, KEEL_PROT_READ | KEEL_PROT_WRITE);
	printf("# seed %lu, %d calls\n", seed, CALLS);
	for (int i = 0; i < CALLS; i++) {
		uint64_t nr;
		long ret = one_call(&nr);

		enosys += ret == -38;
		efault += ret == -14;
		if (!allowed(ret) && bad++ < 5)
			printf("# call %d: nr %lu returned %ld\n", i, nr, ret);
	}
	tap_ok(bad == 0, "%d calls, every result allowed (%u not)", CALLS, bad);
	tap_ok(enosys > 0 && efault > 0, "unknown numbers (%u) and wild pointers (%u) were tried",
	       enosys, efault);
	tap_ok(sys_getpid() > 0, "the process is still alive and served");
	return tap_done();
}
