/*
 * Parses `guest=NAME,image=MODULE,...` descriptions (guest_desc.h). Knows the keys and
 * their limits, nothing of guests, modules or memory.
 */
#include <keel/cmdline.h>
#include <keel/errno.h>
#include <keel/string.h>

#include "guest_desc.h"

static const char *const mode_names[] = { "long", "32", "real" }; /* mode= values */

const char *guest_mode_str(enum guest_mode mode)
{
	return mode_names[mode];
}

/* A number (cmdline_parse_uint) of bytes, or of K/M/G with that suffix: "4M". */
static bool parse_size(const char *s, uint64_t *out)
{
	size_t len = strlen(s);
	unsigned shift = 0;
	switch (len ? s[len - 1] | 0x20 : 0) {
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	}
	if (!cmdline_parse_uint(s, len - (shift != 0), out) || *out > (1ull << 40))
		return false;
	*out <<= shift;
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	return cmdline_parse_uint(s, strlen(s), out);
}

static int parse_mode(const char *s)
{
	for (unsigned i = 0; i < ARRAY_SIZE(mode_names); i++)
		if (!strcmp(s, mode_names[i]))
			return (int)i;
	return -1;
}

/* Copies a non-empty string shorter than cap into dst; false otherwise. */
static bool copy_word(char *dst, const char *s, size_t cap)
{
	size_t len = strlen(s);
	if (!len || len >= cap)
		return false;
	memcpy(dst, s, len + 1);
	return true;
}

/* expect=exit[:N] or expect=killed[:WORDS] (letters, digits, '-' for a space). */
static bool parse_expect(const char *s, struct guest_expect *e)
{
	const char *colon = strchr(s, ':');
	size_t head = colon ? (size_t)(colon - s) : strlen(s);
	uint64_t n = 0;
	memset(e, 0, sizeof(*e));
	if (head == 4 && !strncmp(s, "exit", 4)) {
		e->kind = GUEST_EXPECT_EXIT;
		if (colon && !parse_u64(colon + 1, &n))
			return false;
		e->status = (int64_t)n;
		return true;
	}
	if (head != 6 || strncmp(s, "killed", 6))
		return false;
	e->kind = GUEST_EXPECT_KILLED;
	if (!colon)
		return true;
	const char *w = colon + 1;
	size_t len = strlen(w);
	if (!len || len >= sizeof(e->words))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = w[i];
		bool ok =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!ok && c != '-')
			return false;
		e->words[i] = c == '-' ? ' ' : c;
	}
	return true;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies s into dst (cap bytes with the NUL), decoding %XX escapes. False for a bad or
 * %00 escape, or a result that does not fit. */
static bool unescape(char *dst, const char *s, size_t cap)
{
	size_t n = 0;
	for (; *s; s++) {
		char c = *s;
		if (c == '%') {
			int hi = hex_digit(s[1]), lo = hi < 0 ? -1 : hex_digit(s[2]);
			if (lo < 0 || (hi | lo) == 0)
				return false;
			c = (char)(hi << 4 | lo);
			s += 2;
		}
		if (n + 1 >= cap)
			return false;
		dst[n++] = c;
	}
	dst[n] = '\0';
	return true;
}

/* module=MODULE[%20ARGS]: a non-empty module name first. */
static int parse_module(struct guest_desc *d, const char *val, const char **why)
{
	if (d->mod_count == GUEST_MOD_MAX)
		return *why = "more than 8 module= keys", -EINVAL;
	char *m = d->mod[d->mod_count];
	if (!unescape(m, val, GUEST_MOD_STRING_MAX))
		return *why = "module=: bad %XX escape (%00, or not two hex digits) or longer "
			      "than 127 characters",
		       -EINVAL;
	if (!m[0] || m[0] == ' ')
		return *why = "module= must start with a module name", -EINVAL;
	d->mod_count++;
	return 0;
}

/* The keys of Multiboot guests (cmdline=, module=); 1 if key is not one of them. */
static int parse_mb_key(struct guest_desc *d, const char *key, const char *val, const char **why)
{
	if (!strcmp(key, "module"))
		return parse_module(d, val, why);
	if (strcmp(key, "cmdline"))
		return 1;
	if (d->has_cmdline)
		return *why = "cmdline= given twice", -EINVAL;
	if (!unescape(d->cmdline, val, sizeof(d->cmdline)))
		return *why = "cmdline=: bad %XX escape (%00, or not two hex digits) or longer "
			      "than 255 characters",
		       -EINVAL;
	d->has_cmdline = true;
	return 0;
}

/* One key=value pair into d. Returns 0, or -EINVAL with *why. */
static int parse_key(struct guest_desc *d, const char *key, const char *val, const char **why)
{
	uint64_t n;
	int mb = parse_mb_key(d, key, val, why);
	if (mb <= 0)
		return mb;
	if (!strcmp(key, "image")) {
		if (!copy_word(d->image, val, sizeof(d->image)))
			return *why = "image= empty or longer than 63 characters", -EINVAL;
	} else if (!strcmp(key, "mem")) {
		if (!parse_size(val, &d->mem))
			return *why = "bad mem= (e.g. mem=4M)", -EINVAL;
	} else if (!strcmp(key, "vcpus")) {
		if (!parse_u64(val, &n) || n < 1 || n > GUEST_VCPU_MAX)
			return *why = "vcpus= must be 1 to 8", -EINVAL;
		d->vcpus = (unsigned)n;
	} else if (!strcmp(key, "mode")) {
		if ((d->mode = parse_mode(val)) < 0)
			return *why = "mode= must be long, 32 or real", -EINVAL;
	} else if (!strcmp(key, "arg")) {
		if (!parse_u64(val, &d->arg))
			return *why = "arg= must be a decimal or 0x-hex number", -EINVAL;
	} else if (!strcmp(key, "limit")) {
		if (!parse_u64(val, &d->limit_ms) || d->limit_ms > 86400000)
			return *why = "limit= must be milliseconds (at most a day)", -EINVAL;
	} else if (!strcmp(key, "populate")) {
		if (strcmp(val, "demand") && strcmp(val, "eager"))
			return *why = "populate= must be demand or eager", -EINVAL;
		d->eager = !strcmp(val, "eager");
	} else if (!strcmp(key, "hooks")) {
		if (strcmp(val, "0") && strcmp(val, "1"))
			return *why = "hooks= must be 0 or 1", -EINVAL;
		d->hooks = !strcmp(val, "1");
	} else if (!strcmp(key, "gdb")) {
		if (strcmp(val, "0") && strcmp(val, "1"))
			return *why = "gdb= must be 0 or 1", -EINVAL;
		d->gdb = !strcmp(val, "1");
	} else if (!strcmp(key, "smp")) {
		if (strcmp(val, "all") && strcmp(val, "sipi"))
			return *why = "smp= must be all or sipi", -EINVAL;
		d->sipi_start = !strcmp(val, "sipi");
	} else if (!strcmp(key, "expect")) {
		if (!parse_expect(val, &d->expect))
			return *why = "expect= must be exit, exit:N, killed or killed:WORDS",
			       -EINVAL;
	} else {
		return *why = "unknown key (image, mem, vcpus, mode, arg, limit, populate, hooks, "
			      "gdb, smp, expect, cmdline, module)",
		       -EINVAL;
	}
	return 0;
}

int guest_desc_parse(char *s, struct guest_desc *d, const char **why)
{
	memset(d, 0, sizeof(*d));
	d->mem = MiB(4);
	d->vcpus = 1;
	d->mode = -1;
	char *field = s;
	for (unsigned i = 0; field; i++) {
		char *next = strchr(field, ',');
		if (next)
			*next++ = '\0';
		char *eq = strchr(field, '=');
		if (i == 0 && !eq) {
			if (!copy_word(d->name, field, sizeof(d->name)))
				return *why = "name empty or longer than 23 characters", -EINVAL;
		} else if (!eq) {
			return *why = "expected key=value after the name", -EINVAL;
		} else {
			*eq = '\0';
			int err = parse_key(d, field, eq + 1, why);
			if (err)
				return err;
		}
		field = next;
	}
	if (!d->name[0] || !d->image[0])
		return *why = "needs a name and image=MODULE", -EINVAL;
	if (d->mem < MiB(2) || d->mem > GiB(1) || (d->mem & (SIZE_2M - 1)))
		return *why = "mem must be a multiple of 2M between 2M and 1G", -EINVAL;
	return 0;
}
