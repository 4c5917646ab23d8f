/* Parsing and judging `user=` descriptions (user_desc.h). Pure. */
#include <keel/errno.h>
#include <keel/string.h>

#include "user_desc.h"

/* Copies the value into dst (size bytes with the NUL). False if it does not fit or is
 * empty. */
static bool copy_word(char *dst, size_t size, const char *val)
{
	size_t n = strlen(val);

	if (n == 0 || n >= size)
		return false;
	memcpy(dst, val, n + 1);
	return true;
}

static bool parse_status(const char *s, int64_t *out)
{
	bool neg = *s == '-';
	uint64_t v = 0;

	if (neg)
		s++;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000000)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

/* expect=exit:N | killed | killed:WORDS ('-' for spaces). */
static int parse_expect(const char *val, struct user_desc *d, const char **why)
{
	if (!strncmp(val, "exit:", 5)) {
		d->expect = USER_EXPECT_EXIT;
		if (!parse_status(val + 5, &d->expect_status)) {
			*why = "expect=exit:N needs a decimal status";
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(val, "killed") && strncmp(val, "killed:", 7)) {
		*why = "expect= must be exit:N, killed or killed:WORDS";
		return -EINVAL;
	}
	d->expect = USER_EXPECT_KILLED;
	d->expect_words[0] = 0;
	if (val[6] == ':' && !copy_word(d->expect_words, sizeof(d->expect_words), val + 7)) {
		*why = "expect=killed:WORDS is empty or too long";
		return -EINVAL;
	}
	for (char *p = d->expect_words; *p; p++)
		if (*p == '-')
			*p = ' ';
	return 0;
}

/* One `key=value` option. */
static int parse_option(char *opt, struct user_desc *d, const char **why)
{
	char *eq = strchr(opt, '=');

	if (!eq) {
		*why = "options are key=value";
		return -EINVAL;
	}
	*eq = 0;
	if (!strcmp(opt, "image")) {
		if (copy_word(d->image, sizeof(d->image), eq + 1))
			return 0;
		*why = "image= is empty or too long";
	} else if (!strcmp(opt, "arg")) {
		if (copy_word(d->arg, sizeof(d->arg), eq + 1))
			return 0;
		*why = "arg= is empty or too long";
	} else if (!strcmp(opt, "expect")) {
		return parse_expect(eq + 1, d, why);
	} else {
		*why = "unknown option (image=, arg=, expect=)";
	}
	return -EINVAL;
}

int user_desc_parse(char *s, struct user_desc *d, const char **why)
{
	char *opt = strchr(s, ',');

	*d = (struct user_desc){ .expect = USER_EXPECT_EXIT };
	if (opt)
		*opt++ = 0;
	if (!copy_word(d->name, sizeof(d->name), s)) {
		*why = "the name is empty or too long";
		return -EINVAL;
	}
	while (opt) {
		char *next = strchr(opt, ',');
		int rc;

		if (next)
			*next++ = 0;
		rc = parse_option(opt, d, why);
		if (rc)
			return rc;
		opt = next;
	}
	if (!d->image[0]) {
		*why = "image=MODULE is missing";
		return -EINVAL;
	}
	return 0;
}

static bool contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (!strncmp(hay, needle, n))
			return true;
	return !*needle;
}

bool user_desc_judge(const struct user_desc *d, bool killed, const char *reason, int64_t status,
		     unsigned not_ok, const char **why)
{
	if (d->expect == USER_EXPECT_KILLED) {
		if (!killed)
			*why = "expected to be killed, but it exited";
		else if (d->expect_words[0] && !contains(reason, d->expect_words))
			*why = "killed, but not for the expected reason";
		else
			return true;
		return false;
	}
	if (killed)
		*why = "killed";
	else if (status != d->expect_status)
		*why = "exited with another status than expected";
	else if (not_ok)
		*why = "printed TAP failures (not ok)";
	else
		return true;
	return false;
}
