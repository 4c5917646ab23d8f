/*
 * printf for user programs: %d %i %u %x %X %p %s %c %% with l, ll and z lengths, a
 * width, '-' and '0'. Output goes to sys_write a line at a time (or every 256 bytes).
 */
#include "keel_user.h"

struct sink {
	char *buf;
	size_t cap, used, total;
	bool console; /* flush to sys_write when full or at a newline */
};

static void sink_flush(struct sink *s)
{
	if (s->console && s->used)
		sys_write(s->buf, s->used);
	s->used = 0;
}

static void put(struct sink *s, char c)
{
	s->total++;
	if (s->used + 1 < s->cap || s->console)
		s->buf[s->used++] = c;
	if (s->console && (c == '\n' || s->used == s->cap))
		sink_flush(s);
}

static void put_field(struct sink *s, const char *str, size_t n, int width, bool left, char pad)
{
	int fill = width > (int)n ? width - (int)n : 0;

	while (!left && fill-- > 0)
		put(s, pad);
	for (size_t i = 0; i < n; i++)
		put(s, str[i]);
	while (left && fill-- > 0)
		put(s, ' ');
}

/* Digits of v in base (10 or 16), with a '-' when neg. */
static size_t to_digits(char *out, uint64_t v, unsigned base, bool upper, bool neg)
{
	const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	size_t n = 0, k = 0;

	do {
		tmp[n++] = dig[v % base];
		v /= base;
	} while (v);
	if (neg)
		out[k++] = '-';
	while (n)
		out[k++] = tmp[--n];
	return k;
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		bool left = false, zero = false;
		int width = 0, longs = 0;
		char num[24];

		if (*fmt != '%') {
			put(s, *fmt);
			continue;
		}
		for (fmt++; *fmt == '-' || *fmt == '0'; fmt++)
			*fmt == '-' ? (left = true) : (zero = true);
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			longs++;
		char conv = *fmt, pad = zero && !left ? '0' : ' ';
		uint64_t u;
		int64_t v;
		const char *str;

		switch (conv) {
		case 'd':
		case 'i':
			v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_field(
			    s, num,
			    to_digits(num, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, false, v < 0),
			    width, left, pad);
			break;
		case 'u':
		case 'x':
		case 'X':
		case 'p':
			u = conv == 'p' ? (uintptr_t)va_arg(ap, void *)
			    : longs	? va_arg(ap, uint64_t)
					: va_arg(ap, unsigned);
			put_field(s, num,
				  to_digits(num, u, conv == 'u' ? 10 : 16, conv == 'X', false),
				  width, left, pad);
			break;
		case 's':
			str = va_arg(ap, const char *);
			str = str ? str : "(null)";
			put_field(s, str, strlen(str), width, left, ' ');
			break;
		case 'c':
			num[0] = (char)va_arg(ap, int);
			put_field(s, num, 1, width, left, ' ');
			break;
		case '\0':
			return;
		default:
			put(s, conv);
		}
	}
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct sink s = { buf, size, 0, 0, false };

	format(&s, fmt, ap);
	if (size)
		buf[s.used] = 0;
	return (int)s.total;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	char line[256];
	struct sink s = { line, sizeof(line), 0, 0, true };
	va_list ap;

	va_start(ap, fmt);
	format(&s, fmt, ap);
	va_end(ap);
	sink_flush(&s);
	return (int)s.total;
}
