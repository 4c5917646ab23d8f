/*
 * Kernel command line: space-separated key=value (or bare key) options. Every option
 * the kernel understands is registered with CMDLINE_OPT in the .cmdline_opts section,
 * so an unknown or malformed option is reported with the list of known ones instead of
 * being ignored. cmdline_parse() runs once, early, on the BSP.
 */
#ifndef KEEL_CMDLINE_H
#define KEEL_CMDLINE_H

#include <keel/compiler.h>
#include <keel/types.h>

enum cmdline_kind { CMDLINE_INT, CMDLINE_BOOL, CMDLINE_STR };

struct cmdline_opt {
	const char *key;
	enum cmdline_kind kind;
	long min, max; /* CMDLINE_INT bounds */
	const char *help;
};

#define CMDLINE_OPT(id, k, kd, lo, hi, h)                                           \
	static const struct cmdline_opt cmdline_opt_##id __section(".cmdline_opts") \
	    __used __aligned(8) = { k, kd, lo, hi, h }

/* Validates boot_info.cmdline against the registered options. Returns the number of
 * bad options (each reported on the console). */
int cmdline_parse(void);
/* Value of a registered option, or dflt when absent. Repeated keys: the last wins,
 * except "guest", which may repeat: see cmdline_get_nth. */
long cmdline_get_int(const char *key, long dflt);
bool cmdline_get_bool(const char *key, bool dflt);
/* Copies the value of the nth (0-based) occurrence of key into buf; returns false if
 * there is no such occurrence. */
bool cmdline_get_nth(const char *key, unsigned n, char *buf, size_t size);
bool cmdline_get_str(const char *key, char *buf, size_t size);
/* Parses a decimal or 0x-hex unsigned integer of exactly len chars (no sign, no
 * overflow); false if malformed. For option values with their own syntax. */
bool cmdline_parse_uint(const char *s, size_t len, uint64_t *out);

#endif
