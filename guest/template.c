/*
 * template: the guest to copy when you write a hypercall test guest.
 *   cp guest/template.c guest/mytest.c, edit, then add to guest/manifest the line
 *   mytest   mytest.elf   -   no
 * and run `make guest-test ONLY=mytest` (make test runs it from then on). guest_main
 * runs on every vCPU; its return value ends the whole guest as its exit status, and
 * Keel's verdict for it is PASS when that status is what the manifest's expect= says
 * (default 0) and none of its TAP lines says "not ok".
 */
#include "keel_guest.h"

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	if (vcpu != 0) /* other vCPUs (vcpus=N) wait here; the exit ends them */
		for (;;)
			cpu_pause();
	tap_plan(3);
	tap_ok(keel_nop() == 0, "the nop hypercall returns 0");
	tap_ok(keel_vcpu_info() == 0, "vCPU 0 is vCPU 0");
	long wild = keel_console_write((const void *)(1ull << 40), 8);
	tap_ok(wild == -14, "a buffer outside guest RAM gets -EFAULT (%ld); arg=%lu, %u vCPU(s)",
	       wild, (unsigned long)arg, vcpu_count);
	return tap_done(); /* the count of failed checks: 0 is success */
}
