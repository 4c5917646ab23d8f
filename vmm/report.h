/*
 * What Keel prints about guests: the line when one ends (how, after how long, with its
 * scheduling counters and VMCALL rate), the summary table when all have, and each
 * guest's verdict.
 */
#ifndef VMM_REPORT_H
#define VMM_REPORT_H

#include "guest.h"

/* How g ended, printed as it happens (sched.c calls it through vmm.c). */
void report_guest_end(struct guest *g);
/* The summary table of count guests. */
void report_summary(struct guest *const *guests, unsigned count);
/*
 * Judges g against its description's expect= and prints "guest NAME: PASS (why)" or
 * "guest NAME: FAIL (why)". PASS: it ended as expected (exit status, or killed with a
 * reason containing the expected words) and printed no TAP "not ok". True for PASS.
 */
bool report_verdict(const struct guest *g);
/* The words for a mode ("long", "32-bit", "real"). */
const char *report_mode_word(enum guest_mode mode);

#endif
