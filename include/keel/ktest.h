/*
 * In-kernel tests. KTEST(name) { ... } registers a test in the .ktests linker section;
 * the runner (kernel/ktest.c) runs those whose name matches the command line's
 * test=GLOB (comma-separated globs, '*' and '?'), in link order, on the boot CPU with
 * interrupts enabled and all CPUs online, and prints TAP:
 *   1..N
 *   ok 1 - name
 *   not ok 2 - name # file.c:12: KT_ASSERT(x == 1) failed
 * then the verdict line "KEEL-VERDICT: PASS|FAIL P passed, F failed" and exits the
 * emulator (arch_exit). A watchdog (cmdline watchdog=SECONDS) fails a hung run.
 * Test names state the property checked: frame_coalesces_to_initial_state.
 */
#ifndef KEEL_KTEST_H
#define KEEL_KTEST_H

#include <keel/compiler.h>
#include <keel/printk.h>

struct ktest_ctx {
	bool failed;
	bool skipped;
	char why[160];
};

struct ktest {
	const char *name;
	void (*fn)(struct ktest_ctx *t);
};

#define KTEST(tname)                                                 \
	static void ktest_fn_##tname(struct ktest_ctx *t);           \
	static const struct ktest ktest_##tname __section(".ktests") \
	    __used __aligned(8) = { #tname, ktest_fn_##tname };      \
	static void ktest_fn_##tname(struct ktest_ctx *t)

__printf(4, 5) void ktest_fail(struct ktest_ctx *t, const char *file, int line, const char *fmt,
			       ...);

/* Fails the test and returns from it when cond is false. */
#define KT_ASSERT(cond)                                                                   \
	do {                                                                              \
		if (unlikely(!(cond))) {                                                  \
			ktest_fail(t, __FILE__, __LINE__, "KT_ASSERT(%s) failed", #cond); \
			return;                                                           \
		}                                                                         \
	} while (0)

/* Fails and returns when a != b, printing both values. */
#define KT_ASSERT_EQ(a, b)                                                                      \
	do {                                                                                    \
		unsigned long long _a = (unsigned long long)(a);                                \
		unsigned long long _b = (unsigned long long)(b);                                \
		if (unlikely(_a != _b)) {                                                       \
			ktest_fail(t, __FILE__, __LINE__, "%s == %s: 0x%llx != 0x%llx", #a, #b, \
				   _a, _b);                                                     \
			return;                                                                 \
		}                                                                               \
	} while (0)

/* Ends the test as skipped (TAP "# SKIP why"): for a feature this machine lacks. */
#define KT_SKIP(reason)                                         \
	do {                                                    \
		t->skipped = true;                              \
		snprintf(t->why, sizeof(t->why), "%s", reason); \
		return;                                         \
	} while (0)

#endif
