/* The test runner's entry points (kernel/ktest.c), for start-up code (kernel/main.c). */
#ifndef KEEL_KTEST_RUN_H
#define KEEL_KTEST_RUN_H

#include <keel/compiler.h>

__noreturn void ktest_run_all(const char *globs);
bool ktest_selected(const char *globs, const char *name);

#endif
