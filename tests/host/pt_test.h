/*
 * Shared helpers of the page-table host tests: TAP output, assertions, the fake format
 * and a per-format description of what each real or fake format offers the tests.
 */
#ifndef KEEL_TESTS_PT_TEST_H
#define KEEL_TESTS_PT_TEST_H

#include <stdio.h>

#include <keel/pt_format.h>

#include "fake_arch.h"
#include "mm/pt.h"

extern const struct pt_format pt_format_fake;

/* ---- TAP */
extern int tap_count, tap_failed;
extern bool tap_cur_failed;
extern char tap_why[256];

void tap_fail(const char *file, int line, const char *expr);
#define T_ASSERT(cond)                                       \
	do {                                                 \
		if (!(cond)) {                               \
			tap_fail(__FILE__, __LINE__, #cond); \
			return;                              \
		}                                            \
	} while (0)

#define T_EQ(a, b) T_ASSERT((a) == (b))

/* Runs one test case and prints its TAP line. */
void tap_run(const char *name, void (*fn)(const void *arg), const void *arg);
/* Runs fn once per format of pt_test_fmts, named "<format>: <name>". */
void tap_run_formats(const char *name, void (*fn)(const void *arg));
/* Prints the plan; returns the process exit status. */
int tap_finish(void);

/* ---- per-format test parameters */
struct pt_test_fmt {
	const struct pt_format *fmt;
	uint64_t huge;		     /* a huge leaf size (2 MiB, or the fake's 512 MiB) */
	uint64_t space_lo, space_hi; /* usable linear range (hi exclusive) */
	struct pt_prop rw;	     /* an expressible read-write prop */
	struct pt_prop refused;	     /* a prop the format refuses */
};

extern const struct pt_test_fmt pt_test_fmts[3];

/* A paddr far from the fake RAM, for tables that hold no references. */
#define T_PA(x) PA(0x100000000000ull + (x))

#endif

/*
 * Counting leaf ops: a table of pa -> references held by page tables, so tests can
 * check every get() is matched by exactly one later put() and none goes negative.
 * Thread-safe (one mutex).
 */
extern const struct pt_leaf_ops pt_test_leaf_ops;
void ref_reset(void);
long ref_count(paddr_t pa); /* references held on pa now */
long ref_total(void);	    /* sum over all pa: live leaf references */
uint64_t ref_gets(void);
uint64_t ref_puts(void);
bool ref_underflowed(void); /* a put() without a matching get() happened */

/* Flush hook of the test batches: counts calls and flushed bytes. */
extern const struct pt_flush_ops pt_test_flush_ops;
extern uint64_t test_flush_calls, test_flushed_bytes, test_flush_all_count;

/* ---- small environment: one table + one batch */
struct pt_env {
	struct pt_table t;
	struct pt_flush_batch b;
	const struct pt_test_fmt *tf;
	uint64_t nodes_before;
};
/* Creates an empty table (counting leaf ops unless ops given); CHECKs success. */
void env_init(struct pt_env *e, const struct pt_test_fmt *tf, const struct pt_leaf_ops *ops);
/* Tears the table down and finishes the batch; true if every node came back. */
bool env_fini(struct pt_env *e);
/* Canonical address of a linear position in e's format. */
vaddr_t env_va(const struct pt_env *e, uint64_t lin);
/* One-shot operations with their own cursor over [va, va + len) and a finished batch. */
int env_map(struct pt_env *e, uint64_t lin, uint64_t size, paddr_t pa, struct pt_prop prop);
/* map_range over [lin, lin + len): the largest leaves that va/pa alignment allows. */
int env_map_range(struct pt_env *e, uint64_t lin, uint64_t len, paddr_t pa, struct pt_prop prop);
int env_unmap(struct pt_env *e, uint64_t lin, uint64_t len);
/* Query at lin; returns the item kind (PT_ITEM_NONE on error too). */
int env_query(struct pt_env *e, uint64_t lin, struct pt_item *out);
/* Number of leaves (by find_next) in the whole usable space. */
uint64_t env_leaf_count(struct pt_env *e);
