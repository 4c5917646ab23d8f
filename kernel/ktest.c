/*
 * In-kernel test runner (see include/keel/ktest.h). Runs the .ktests entries that
 * match test=GLOB[,GLOB...], prints TAP and the verdict line, and exits the emulator.
 * The watchdog (kernel/watchdog.c, watchdog=SECONDS) turns a hung test into a failure
 * that names the test.
 */
#include <keel/cmdline.h>
#include <keel/kernel.h>
#include <keel/ktest.h>
#include <keel/printk.h>
#include <keel/string.h>
#include <keel/watchdog.h>

extern const struct ktest __ktests_start[], __ktests_end[];
#define KTEST_COUNT SECTION_COUNT(__ktests_start, __ktests_end)

CMDLINE_OPT(test, "test", CMDLINE_STR, 0, 0, "run kernel tests matching GLOB[,GLOB]");

/* The test running now, or NULL: for a debugger (`p current_test` in gdb after a hang). */
static const char *volatile current_test;

/* Glob match with '*' and '?', pattern ends at ',' or NUL. */
static bool glob_match(const char *p, const char *s)
{
	const char *star = NULL, *retry = NULL;
	while (*s) {
		if (*p == '?' || (*p && *p != ',' && *p != '*' && *p == *s)) {
			p++, s++;
		} else if (*p == '*') {
			star = ++p;
			retry = s;
		} else if (star) {
			p = star;
			s = ++retry;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return !*p || *p == ',';
}

bool ktest_selected(const char *globs, const char *name)
{
	for (const char *g = globs; *g;) {
		if (glob_match(g, name))
			return true;
		const char *comma = strchr(g, ',');
		if (!comma)
			break;
		g = comma + 1;
	}
	return false;
}

void ktest_fail(struct ktest_ctx *t, const char *file, int line, const char *fmt, ...)
{
	const char *base = file;
	for (const char *p = file; *p; p++)
		if (*p == '/')
			base = p + 1;
	int n = snprintf(t->why, sizeof(t->why), "%s:%d: ", base, line);
	if (n < (int)sizeof(t->why)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(t->why + n, sizeof(t->why) - n, fmt, ap);
		va_end(ap);
	}
	t->failed = true;
}

static unsigned count_selected(const char *globs)
{
	unsigned n = 0;
	for (size_t i = 0; i < KTEST_COUNT; i++)
		n += ktest_selected(globs, __ktests_start[i].name);
	return n;
}

__noreturn void ktest_run_all(const char *globs)
{
	unsigned total = count_selected(globs), passed = 0, failed = 0, skipped = 0, n = 0;
	printk("ktest: running %u of %u tests matching '%s'\n", total, (unsigned)KTEST_COUNT,
	       globs);
	printk("1..%u\n", total);
	for (size_t i = 0; i < KTEST_COUNT; i++) {
		const struct ktest *k = &__ktests_start[i];
		if (!ktest_selected(globs, k->name))
			continue;
		struct ktest_ctx ctx = { 0 };
		current_test = k->name;
		watchdog_arm(k->name);
		k->fn(&ctx);
		watchdog_disarm();
		current_test = NULL;
		n++;
		if (ctx.failed) {
			failed++;
			printk("not ok %u - %s # %s\n", n, k->name, ctx.why);
		} else if (ctx.skipped) {
			skipped++;
			printk("ok %u - %s # SKIP %s\n", n, k->name, ctx.why);
		} else {
			passed++;
			printk("ok %u - %s\n", n, k->name);
		}
	}
	bool pass = failed == 0 && total > 0;
	if (total == 0)
		printk("ktest: no test matches '%s'\n", globs);
	printk("KEEL-VERDICT: %s %u passed, %u failed, %u skipped\n", pass ? "PASS" : "FAIL",
	       passed, failed, skipped);
	arch_exit(pass);
}
