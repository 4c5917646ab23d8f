/*
 * TAP output for guest tests: "1..N", "ok N - ..." / "not ok N - ...", and a final
 * "# passed P failed F" line. The counters are plain globals: one vCPU reports.
 */
#include "keel_guest.h"

static unsigned tap_planned, tap_run, tap_failed;

void tap_plan(unsigned count)
{
	tap_planned = count;
	printf("1..%u\n", count);
}

bool tap_ok(bool cond, const char *fmt, ...)
{
	char msg[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %u - %s\n", cond ? "" : "not ", tap_run, msg);
	return cond;
}

int tap_done(void)
{
	unsigned failed = tap_failed;
	if (tap_planned && tap_run != tap_planned) {
		printf("# planned %u tests, ran %u\n", tap_planned, tap_run);
		failed++;
	}
	printf("# passed %u failed %u\n", tap_run - tap_failed, tap_failed);
	return (int)failed;
}
