/*
 * printf and snprintf for guests, one formatter for the 64-bit and 32-bit builds.
 * Numbers are converted with 32-bit divisions only: i386 has no 64-bit divide and
 * libgcc (__udivdi3) is not linked.
 */
#include "keel_guest.h"

#define PRINTF_LINE 128

/*
 * Where formatted characters go: buf[0, size). When the buffer fills (and, with
 * line_flush, at each newline) flush empties it; without flush, characters past
 * size - 1 are counted and dropped.
 */
struct fmt_out {
	char *buf;
	size_t size, len;
	size_t total; /* characters produced, written or not */
	void (*flush)(struct fmt_out *o);
};

struct fmt_spec {
	unsigned width;
	bool left, zero;
};

static void out_char(struct fmt_out *o, char c)
{
	o->total++;
	if (o->flush) {
		o->buf[o->len++] = c;
		if (c == '\n' || o->len == o->size)
			o->flush(o);
	} else if (o->len + 1 < o->size) {
		o->buf[o->len++] = c;
	}
}

static void out_padded(struct fmt_out *o, const char *s, size_t len, const struct fmt_spec *sp)
{
	size_t pad = sp->width > len ? sp->width - len : 0;
	size_t sign = (sp->zero && len && (*s == '-')) ? 1 : 0;
	for (size_t i = 0; i < sign; i++)
		out_char(o, s[i]); /* "-0042": the sign goes before zero padding */
	for (; !sp->left && pad; pad--)
		out_char(o, sp->zero ? '0' : ' ');
	for (size_t i = sign; i < len; i++)
		out_char(o, s[i]);
	for (; pad; pad--)
		out_char(o, ' ');
}

/* Divides n by base (2..16) with 32-bit divisions, 16 bits at a time. */
static uint64_t div_small(uint64_t n, unsigned base, unsigned *rem)
{
	uint64_t q = 0;
	uint32_t r = 0;
	for (int shift = 48; shift >= 0; shift -= 16) {
		uint32_t cur = (r << 16) | (uint32_t)((n >> shift) & 0xFFFF);
		q = (q << 16) | (cur / base);
		r = cur % base;
	}
	*rem = r;
	return q;
}

static void out_number(struct fmt_out *o, uint64_t v, bool neg, unsigned base, bool upper,
		       const struct fmt_spec *sp)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		unsigned d;
		v = div_small(v, base, &d);
		tmp[--i] = digits[d];
	} while (v);
	if (neg)
		tmp[--i] = '-';
	out_padded(o, tmp + i, sizeof(tmp) - i, sp);
}

/* Reads the argument of an integer conversion of the given length (0 none, 1 l, 2 ll, 3 z). */
static uint64_t arg_unsigned(va_list *ap, int length)
{
	switch (length) {
	case 1:
		return va_arg(*ap, unsigned long);
	case 2:
		return va_arg(*ap, unsigned long long);
	case 3:
		return va_arg(*ap, size_t);
	}
	return va_arg(*ap, unsigned);
}

static int64_t arg_signed(va_list *ap, int length)
{
	switch (length) {
	case 1:
		return va_arg(*ap, long);
	case 2:
		return va_arg(*ap, long long);
	case 3:
		return (int64_t)va_arg(*ap, size_t);
	}
	return va_arg(*ap, int);
}

/* Parses flags, width and length of the conversion at *fmt (after '%'); returns the length. */
static int parse_spec(const char **fmt, va_list *ap, struct fmt_spec *sp)
{
	const char *f = *fmt;
	int length = 0;
	*sp = (struct fmt_spec){ 0 };
	for (;; f++) {
		if (*f == '-')
			sp->left = true;
		else if (*f == '0')
			sp->zero = true;
		else
			break;
	}
	if (*f == '*') {
		int w = va_arg(*ap, int);
		sp->left |= w < 0;
		sp->width = (unsigned)(w < 0 ? -w : w);
		f++;
	}
	for (; *f >= '0' && *f <= '9'; f++)
		sp->width = sp->width * 10 + (unsigned)(*f - '0');
	if (*f == 'z')
		length = 3, f++;
	for (; *f == 'l' && length < 2; f++)
		length++;
	sp->zero &= !sp->left;
	*fmt = f;
	return length;
}

static void out_conversion(struct fmt_out *o, char conv, int length, va_list *ap,
			   const struct fmt_spec *sp)
{
	switch (conv) {
	case 'd':
	case 'i': {
		int64_t v = arg_signed(ap, length);
		out_number(o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0, 10, false, sp);
		break;
	}
	case 'u':
		out_number(o, arg_unsigned(ap, length), false, 10, false, sp);
		break;
	case 'x':
	case 'X':
		out_number(o, arg_unsigned(ap, length), false, 16, conv == 'X', sp);
		break;
	case 'p':
		out_padded(o, "0x", 2, &(struct fmt_spec){ 0 });
		out_number(o, (uintptr_t)va_arg(*ap, void *), false, 16, false, sp);
		break;
	case 'c': {
		char c = (char)va_arg(*ap, int);
		out_padded(o, &c, 1, sp);
		break;
	}
	case 's': {
		const char *s = va_arg(*ap, const char *);
		s = s ? s : "(null)";
		out_padded(o, s, strlen(s), sp);
		break;
	}
	case '%':
		out_char(o, '%');
		break;
	default: /* unknown: shown as is */
		out_char(o, '%');
		if (conv)
			out_char(o, conv);
	}
}

static void fmt_vformat(struct fmt_out *o, const char *fmt, va_list ap)
{
	va_list args;
	va_copy(args, ap);
	while (*fmt) {
		if (*fmt != '%') {
			out_char(o, *fmt++);
			continue;
		}
		fmt++;
		struct fmt_spec sp;
		int length = parse_spec(&fmt, &args, &sp);
		out_conversion(o, *fmt, length, &args, &sp);
		if (*fmt)
			fmt++;
	}
	va_end(args);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fmt_out o = { .buf = buf, .size = size };
	fmt_vformat(&o, fmt, ap);
	if (size)
		buf[o.len] = '\0';
	return (int)o.total;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* Keel guests print through the console hypercall; a kernel that is not a Keel guest
 * (guest/mb: written for any PC) links its own guest_console_write instead. */
__attribute__((weak)) void guest_console_write(const char *buf, size_t len)
{
	(void)keel_console_write(buf, len);
}

static void console_flush(struct fmt_out *o)
{
	if (o->len)
		guest_console_write(o->buf, o->len);
	o->len = 0;
}

int vprintf(const char *fmt, va_list ap)
{
	char line[PRINTF_LINE];
	struct fmt_out o = { .buf = line, .size = sizeof(line), .flush = console_flush };
	fmt_vformat(&o, fmt, ap);
	console_flush(&o);
	return (int)o.total;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}
