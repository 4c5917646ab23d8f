/* Ring-3 hello: output, the process id, the clock, and the arg= string. */
#include "keel_user.h"

int main(const char *arg)
{
	long t0 = sys_clock(), t1;

	tap_plan(4);
	tap_ok(printf("hello from ring 3 (arg '%s')\n", arg) > 0, "printf writes");
	tap_ok(sys_getpid() >= 1, "getpid is %ld", sys_getpid());
	t1 = sys_clock();
	tap_ok(t0 > 0 && t1 >= t0, "the clock runs forward (%ld ns)", t1 - t0);
	tap_ok(sys_puts("puts prints a string\n") == 21, "puts returns its length");
	return tap_done();
}
