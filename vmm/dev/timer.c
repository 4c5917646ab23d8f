/* The per-vCPU timers (timer.h), in TSC time. */
#include <keel/errno.h>
#include <keel/time.h>

#include "lapic.h"
#include "timer.h"

/* Microseconds to TSC cycles. */
static uint64_t us_to_cycles(uint64_t us)
{
	return us * (time_cycles_hz() / 1000000);
}

int64_t vtimer_set(struct vcpu *v, uint64_t delay_us, uint64_t vector)
{
	if (vector < 32 || vector > 255 || delay_us > 60000000)
		return -EINVAL;
	v->timer_deadline = delay_us ? rdtsc() + MAX(us_to_cycles(delay_us), 1) : 0;
	v->timer_vector = (unsigned)vector;
	return 0;
}

void vtimer_poll(struct vcpu *v, uint64_t now)
{
	if (v->timer_deadline && now >= v->timer_deadline && v->irq_pending < 0) {
		v->irq_pending = (int)v->timer_vector;
		v->timer_deadline = 0;
	}
	uint64_t apic = lapic_timer_next(v->lapic);
	if (apic && now >= apic)
		(void)lapic_timer_poll(v->lapic, now);
}

uint64_t vtimer_next(const struct vcpu *v)
{
	uint64_t hc = v->irq_pending < 0 ? v->timer_deadline : 0; /* else it waits to fire */
	uint64_t apic = lapic_timer_wake(v->lapic);
	if (!hc || !apic)
		return hc | apic;
	return MIN(hc, apic);
}
