/*
 * Printing guests' ends and the summary (report.h), from the counters the exit
 * dispatcher and the scheduler keep in each vCPU. Reads guests, changes nothing but
 * tsc_end and the console line it flushes.
 */
#include <keel/printk.h>
#include <keel/string.h>
#include <keel/time.h>

#include "dev/console.h"
#include "dev/dev.h"
#include "report.h"

static const char *const mode_words[] = { "long", "32-bit", "real" };

const char *report_mode_word(enum guest_mode mode)
{
	return mode_words[mode];
}

/* Exit counts of all vCPUs: the total, the hypercalls, and "reason=N, ..." in buf. */
static void exit_stats(const struct guest *g, uint64_t *total, uint64_t *hcalls, char *buf,
		       size_t len)
{
	uint64_t count[EXIT_REASON_COUNT] = { 0 };
	*total = *hcalls = 0;
	for (unsigned i = 0; i < g->vcpu_count; i++) {
		const struct vcpu *v = &g->vcpus[i];
		for (unsigned r = 0; r < EXIT_REASON_COUNT; r++)
			count[r] += v->exit_count[r];
		*total += v->exit_total;
		*hcalls += v->hypercall_count;
	}
	int n = 0;
	buf[0] = '\0';
	for (unsigned r = 0; r < EXIT_REASON_COUNT; r++)
		if (count[r] && n < (int)len - 48)
			n += snprintf(buf + n, len - (size_t)n, "%s%s=%llu", n ? ", " : "",
				      vmx_exit_reason_str(r), (unsigned long long)count[r]);
	char mmio[96];
	if (vdev_mmio_stats(g->devices, mmio, sizeof(mmio)) && n < (int)len - 112)
		snprintf(buf + n, len - (size_t)n, "; MMIO by device: %s", mmio);
}

/* Prints the VMCALL rate of guests that made many hypercalls, over the time their
 * vCPUs held a CPU (TSC-timed: under an emulator, the emulator's virtual time). */
static void print_rate(const struct guest *g, uint64_t hcalls)
{
	uint64_t hz = time_cycles_hz(), cycles = 0;
	for (unsigned i = 0; i < g->vcpu_count; i++)
		cycles += g->vcpus[i].run_cycles;
	if (hcalls < 1000 || !hz || !cycles)
		return;
	printk("guest %s: %llu hypercalls in %llu us on CPU: %llu VMCALL round trips/s\n", g->name,
	       (unsigned long long)hcalls, (unsigned long long)(cycles * 1000000 / hz),
	       (unsigned long long)(hcalls * hz / cycles));
}

/* "after N ms; S slices, M CPU moves, I interrupts[; first line after C cycles]": C is
 * the TSC from the start of the guest's vCPUs to its first console line (its boot time;
 * under Bochs, instructions). */
static void how_long(const struct guest *g, char *buf, size_t len)
{
	uint64_t hz = time_cycles_hz();
	unsigned long long ms = hz ? (g->tsc_end - g->tsc_start) / (hz / 1000) : 0;
	unsigned long long slices = 0, moves = 0, irqs = 0;
	for (unsigned i = 0; i < g->vcpu_count; i++) {
		slices += g->vcpus[i].slices;
		moves += g->vcpus[i].migrations;
		irqs += g->vcpus[i].irqs_injected;
	}
	int n = snprintf(buf, len, "after %llu ms; %llu slices, %llu CPU moves, %llu interrupts",
			 ms, slices, moves, irqs);
	if (g->tsc_first_line > g->tsc_start && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; first line after %llu cycles",
			 (unsigned long long)(g->tsc_first_line - g->tsc_start));
}

void report_guest_end(struct guest *g)
{
	char stats[400], how[140];
	uint64_t total, hcalls;
	g->tsc_end = rdtsc();
	guest_console_flush(g);
	exit_stats(g, &total, &hcalls, stats, sizeof(stats));
	how_long(g, how, sizeof(how));
	if (g->state == GUEST_EXITED)
		printk("guest %s: exited with status %lld (%s)\n", g->name, (long long)g->status,
		       how);
	else
		printk("guest %s: ended: %s (%s)\n", g->name, g->reason, how);
	print_rate(g, hcalls);
}

/* "0,1": the CPUs any vCPU of g ran on. */
static void cpus_str(const struct guest *g, char *buf, size_t len)
{
	cpumask_t m = CPUMASK_NONE;
	for (unsigned i = 0; i < g->vcpu_count; i++)
		m = cpumask_or(m, g->vcpus[i].ran_on);
	int n = 0;
	unsigned cpu;
	buf[0] = '\0';
	cpumask_for_each (cpu, m)
		if (n < (int)len - 4)
			n += snprintf(buf + n, len - (size_t)n, "%s%u", n ? "," : "", cpu);
}

static void summary_row(const struct guest *g)
{
	char stats[400], cpus[24];
	uint64_t total, hcalls;
	exit_stats(g, &total, &hcalls, stats, sizeof(stats));
	cpus_str(g, cpus, sizeof(cpus));
	printk("  %-12s %-6s %-8s %-6lld %-5u %-7s %-6llu %llu: %s\n", g->name, mode_words[g->mode],
	       g->state == GUEST_EXITED ? "exited" : "killed", (long long)g->status, g->vcpu_count,
	       cpus, (unsigned long long)g->space.fault_count, (unsigned long long)total, stats);
	if (g->state != GUEST_EXITED)
		printk("  %-12s reason: %s\n", g->name, g->reason);
	if (!g->devices)
		return;
	vdev_unclaimed_str(g->devices, stats, sizeof(stats));
	if (stats[0])
		printk("  %-12s I/O to ports no device claims: %s\n", g->name, stats);
}

void report_summary(struct guest *const *guests, unsigned count)
{
	printk("guest summary (%u guests):\n", count);
	printk("  %-12s %-6s %-8s %-6s %-5s %-7s %-6s %s\n", "name", "mode", "state", "status",
	       "vcpus", "cpus", "pages", "exits");
	for (unsigned i = 0; i < count; i++)
		summary_row(guests[i]);
}

static bool reason_has(const char *reason, const char *words)
{
	size_t n = strlen(words);
	for (const char *p = reason; *p; p++)
		if (!strncmp(p, words, n))
			return true;
	return false;
}

/* What was expected, in words: "exit status 0", "killed", "killed (triple fault)". */
static void expect_words(const struct guest_expect *e, char *buf, size_t len)
{
	if (e->kind == GUEST_EXPECT_EXIT)
		snprintf(buf, len, "exit status %lld", (long long)e->status);
	else if (e->words[0])
		snprintf(buf, len, "killed (%s)", e->words);
	else
		snprintf(buf, len, "killed");
}

/* Did g end as expected? why: what happened, in words. */
static bool ended_as_expected(const struct guest *g, char *why, size_t len)
{
	const struct guest_expect *e = &g->expect;
	if (g->state == GUEST_EXITED) {
		snprintf(why, len, "exited with status %lld", (long long)g->status);
		return e->kind == GUEST_EXPECT_EXIT && g->status == e->status;
	}
	snprintf(why, len, "killed: %s", g->reason);
	return e->kind == GUEST_EXPECT_KILLED && reason_has(g->reason, e->words);
}

bool report_verdict(const struct guest *g)
{
	char what[180], want[48];
	bool as_expected = ended_as_expected(g, what, sizeof(what));
	expect_words(&g->expect, want, sizeof(want));
	if (!as_expected)
		printk("guest %s: FAIL (%s; expected %s)\n", g->name, what, want);
	else if (g->tap_not_ok)
		printk("guest %s: FAIL (%s, but %u of its %u TAP results are not ok)\n", g->name,
		       what, g->tap_not_ok, g->tap_ok + g->tap_not_ok);
	else
		printk("guest %s: PASS (%s, as expected; %u TAP results ok)\n", g->name, what,
		       g->tap_ok);
	return as_expected && !g->tap_not_ok;
}
