/*
 * Kernel command line parsing and validation (see include/keel/cmdline.h).
 * Parsing is a pure scan of boot_info.cmdline each time a value is asked for; the
 * line is short and read a handful of times at start-up.
 */
#include <keel/boot.h>
#include <keel/cmdline.h>
#include <keel/printk.h>
#include <keel/string.h>

extern const struct cmdline_opt __cmdline_opts_start[], __cmdline_opts_end[];

CMDLINE_OPT(loglevel, "loglevel", CMDLINE_INT, 0, 7, "console level 0-7 (default 6)");
CMDLINE_OPT(e9, "e9", CMDLINE_BOOL, 0, 1, "also print to port 0xE9");

struct token {
	const char *key, *val; /* val NULL for a bare key */
	size_t key_len, val_len;
};

/* Finds the token starting at or after *pos; returns false at the end of the line. */
static bool next_token(const char **pos, struct token *t)
{
	const char *p = *pos;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return false;
	const char *start = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	*pos = p;
	const char *eq = start;
	while (eq < p && *eq != '=')
		eq++;
	t->key = start;
	t->key_len = eq - start;
	t->val = eq < p ? eq + 1 : NULL;
	t->val_len = eq < p ? (size_t)(p - eq - 1) : 0;
	return true;
}

static const struct cmdline_opt *opt_find(const char *key, size_t len)
{
	size_t n = SECTION_COUNT(__cmdline_opts_start, __cmdline_opts_end);
	for (size_t i = 0; i < n; i++) {
		const struct cmdline_opt *o = &__cmdline_opts_start[i];
		if (strlen(o->key) == len && !strncmp(o->key, key, len))
			return o;
	}
	return NULL;
}

bool cmdline_parse_uint(const char *s, size_t len, uint64_t *out)
{
	size_t i = 0;
	unsigned base = 10;
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == len)
		return false;
	uint64_t v = 0;
	for (; i < len; i++) {
		char c = s[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
						    : 99;
		if (d >= base || v > (~0ull - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

/* Parses an optionally negative cmdline_parse_uint number that fits a long. */
static bool parse_long(const char *s, size_t len, long *out)
{
	bool neg = len && *s == '-';
	uint64_t v;
	if (!cmdline_parse_uint(s + neg, len - neg, &v) || v > (~0ul >> 1))
		return false;
	*out = neg ? -(long)v : (long)v;
	return true;
}

static bool token_valid(const struct cmdline_opt *o, const struct token *t, const char **why)
{
	long v;
	switch (o->kind) {
	case CMDLINE_BOOL:
		if (!t->val)
			return true;
		if (t->val_len == 1 && (t->val[0] == '0' || t->val[0] == '1'))
			return true;
		*why = "expects 0 or 1";
		return false;
	case CMDLINE_INT:
		if (!t->val || !parse_long(t->val, t->val_len, &v)) {
			*why = "expects an integer";
			return false;
		}
		if (v < o->min || v > o->max) {
			*why = "out of range";
			return false;
		}
		return true;
	case CMDLINE_STR:
		if (!t->val || !t->val_len) {
			*why = "expects a value";
			return false;
		}
		return true;
	}
	return false;
}

static void list_options(void)
{
	printk(KERN_ERR "cmdline: known options:\n");
	size_t n = SECTION_COUNT(__cmdline_opts_start, __cmdline_opts_end);
	for (size_t i = 0; i < n; i++)
		printk(KERN_ERR "  %-12s %s\n", __cmdline_opts_start[i].key,
		       __cmdline_opts_start[i].help);
}

int cmdline_parse(void)
{
	const char *pos = boot_info.cmdline;
	struct token t;
	int bad = 0;
	while (next_token(&pos, &t)) {
		const struct cmdline_opt *o = opt_find(t.key, t.key_len);
		const char *why = "unknown option";
		if (o && token_valid(o, &t, &why))
			continue;
		printk(KERN_ERR "cmdline: bad option '%.*s': %s\n", (int)(pos - t.key), t.key, why);
		bad++;
	}
	if (bad)
		list_options();
	return bad;
}

bool cmdline_get_nth(const char *key, unsigned n, char *buf, size_t size)
{
	const char *pos = boot_info.cmdline;
	struct token t;
	size_t klen = strlen(key);
	while (next_token(&pos, &t)) {
		if (t.key_len != klen || strncmp(t.key, key, klen) || n--)
			continue;
		size_t len = t.val ? MIN(t.val_len, size - 1) : 0;
		if (t.val)
			memcpy(buf, t.val, len);
		buf[len] = '\0';
		return true;
	}
	return false;
}

/* The last occurrence of key, copied into buf (a failed lookup leaves buf alone). */
static bool get_last(const char *key, char *buf, size_t size)
{
	unsigned count = 0;
	while (cmdline_get_nth(key, count, buf, size))
		count++;
	return count > 0;
}

bool cmdline_get_str(const char *key, char *buf, size_t size)
{
	return get_last(key, buf, size);
}

long cmdline_get_int(const char *key, long dflt)
{
	char buf[32];
	long v;
	if (!get_last(key, buf, sizeof(buf)) || !parse_long(buf, strlen(buf), &v))
		return dflt;
	return v;
}

bool cmdline_get_bool(const char *key, bool dflt)
{
	char buf[8];
	if (!get_last(key, buf, sizeof(buf)))
		return dflt;
	return buf[0] != '0';
}
