/* vsnprintf: the kernel's only formatter (printk, panic, test messages). */
#include <keel/printk.h>
#include <keel/string.h>

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_padded(struct out *o, const char *s, size_t n, int width, bool left, char pad)
{
	int fill = width > (int)n ? width - (int)n : 0;
	if (!left && pad == '0' && n && (*s == '-')) {
		put(o, *s++);
		n--;
	}
	if (!left)
		while (fill-- > 0)
			put(o, pad);
	while (n--)
		put(o, *s++);
	if (left)
		while (fill-- > 0)
			put(o, ' ');
}

static size_t fmt_num(char *tmp, unsigned long long v, unsigned base, bool upper, bool neg)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char rev[24];
	size_t n = 0, len = 0;
	do {
		rev[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[len++] = '-';
	while (n)
		tmp[len++] = rev[--n];
	return len;
}

struct spec {
	bool left;
	char pad;
	int width, prec, lng;
};

static const char *parse_spec(const char *f, struct spec *sp, va_list *ap)
{
	*sp = (struct spec){ .pad = ' ', .prec = -1 };
	for (;; f++) {
		if (*f == '-')
			sp->left = true;
		else if (*f == '0')
			sp->pad = '0';
		else
			break;
	}
	if (*f == '*') {
		sp->width = va_arg(*ap, int);
		f++;
	}
	while (*f >= '0' && *f <= '9')
		sp->width = sp->width * 10 + (*f++ - '0');
	if (*f == '.') {
		sp->prec = 0;
		f++;
		if (*f == '*') {
			sp->prec = va_arg(*ap, int);
			f++;
		}
		while (*f >= '0' && *f <= '9')
			sp->prec = sp->prec * 10 + (*f++ - '0');
	}
	while (*f == 'l' || *f == 'z') {
		sp->lng++;
		f++;
	}
	return f;
}

static unsigned long long arg_unsigned(const struct spec *sp, va_list *ap)
{
	return sp->lng ? va_arg(*ap, unsigned long long) : va_arg(*ap, unsigned int);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap0)
{
	struct out o = { buf, size, 0 };
	va_list ap;
	va_copy(ap, ap0);
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			put(&o, *f);
			continue;
		}
		struct spec sp;
		f = parse_spec(f + 1, &sp, &ap);
		char tmp[32];
		size_t n;
		switch (*f) {
		case 'd':
		case 'i': {
			long long v = sp.lng ? va_arg(ap, long long) : va_arg(ap, int);
			n = fmt_num(tmp, v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10,
				    false, v < 0);
			put_padded(&o, tmp, n, sp.width, sp.left, sp.pad);
			break;
		}
		case 'u':
			n = fmt_num(tmp, arg_unsigned(&sp, &ap), 10, false, false);
			put_padded(&o, tmp, n, sp.width, sp.left, sp.pad);
			break;
		case 'x':
		case 'X':
			n = fmt_num(tmp, arg_unsigned(&sp, &ap), 16, *f == 'X', false);
			put_padded(&o, tmp, n, sp.width, sp.left, sp.pad);
			break;
		case 'p':
			tmp[0] = '0';
			tmp[1] = 'x';
			n = 2 + fmt_num(tmp + 2, (uintptr_t)va_arg(ap, void *), 16, false, false);
			put_padded(&o, tmp, n, sp.width, sp.left, ' ');
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			n = sp.prec >= 0 ? strnlen(s, sp.prec) : strlen(s);
			put_padded(&o, s, n, sp.width, sp.left, ' ');
			break;
		}
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			put_padded(&o, tmp, 1, sp.width, sp.left, ' ');
			break;
		case '%':
			put(&o, '%');
			break;
		default: /* unknown conversion: print it verbatim */
			put(&o, '%');
			if (!*f)
				goto done;
			put(&o, *f);
		}
	}
done:
	va_end(ap);
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
