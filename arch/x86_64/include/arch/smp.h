/* x86 SMP details that tests need (arch/x86_64/smp.c); generic code uses keel/smp.h. */
#ifndef ARCH_SMP_H
#define ARCH_SMP_H

#include <keel/types.h>

/* Test hook: the next NMI on cpu is counted and ignored instead of being fatal. */
void smp_nmi_test_expect(unsigned cpu);
/* NMIs counted for cpu under smp_nmi_test_expect. */
uint64_t smp_nmi_test_count(unsigned cpu);

#endif
