/*
 * smp: every vCPU (vcpus=N) records its index, prints "vcpu i of n" and increments a
 * shared counter; vCPU 0 then waits (bounded) for all N and reports as TAP. The other
 * vCPUs spin on PAUSE until vCPU 0's exit ends the guest. Expected: exit status 0.
 */
#include "keel_guest.h"

#define SMP_MAX_VCPUS 64
#define SMP_WAIT_SPINS (1u << 27)

static unsigned arrived, bad_index, bad_id;
static unsigned seen[SMP_MAX_VCPUS];

static void atomic_inc(unsigned *p)
{
	__atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST);
}

static unsigned wait_for_all(unsigned vcpu_count)
{
	unsigned spins = 0;
	while (__atomic_load_n(&arrived, __ATOMIC_ACQUIRE) < vcpu_count && spins < SMP_WAIT_SPINS) {
		cpu_pause();
		spins++;
	}
	return spins;
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)arg;
	if (vcpu < vcpu_count && vcpu < SMP_MAX_VCPUS)
		atomic_inc(&seen[vcpu]);
	else
		atomic_inc(&bad_index);
	if (keel_vcpu_info() != (long)vcpu)
		atomic_inc(&bad_id);
	printf("smp: vcpu %u of %u\n", vcpu, vcpu_count);
	atomic_inc(&arrived); /* after printing: vCPU 0 reports once every line is out */
	if (vcpu != 0)
		for (;;)
			cpu_pause();

	unsigned spins = wait_for_all(vcpu_count);
	unsigned n = __atomic_load_n(&arrived, __ATOMIC_ACQUIRE), once = 0;
	for (unsigned i = 0; i < vcpu_count && i < SMP_MAX_VCPUS; i++)
		once += seen[i] == 1;
	tap_plan(4);
	tap_ok(n == vcpu_count && vcpu_count <= SMP_MAX_VCPUS,
	       "counter %u = vcpu count %u (after %u spins)", n, vcpu_count, spins);
	tap_ok(once == vcpu_count, "%u of %u vCPU indexes started exactly once", once, vcpu_count);
	tap_ok(!bad_index, "%u vCPUs had an index >= the count", bad_index);
	tap_ok(!bad_id, "%u vCPUs got another index from vcpu_id", bad_id);
	return tap_done();
}
