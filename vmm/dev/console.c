/*
 * The guest console's line buffer (console.h), in struct guest under the guest lock,
 * and the TAP results the guest prints on it (counted for its verdict, report.c).
 * The only lock taken inside the guest lock is the console's own (printk).
 */
#include <keel/printk.h>
#include <keel/string.h>

#include "console.h"

static bool starts_with(const char *s, unsigned len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && !memcmp(s, prefix, n);
}

static bool contains(const char *s, unsigned len, const char *word)
{
	size_t n = strlen(word);
	for (unsigned i = 0; i + n <= len; i++)
		if (!memcmp(s + i, word, n))
			return true;
	return false;
}

/* A TAP result line ("ok ...", "not ok ..."; "# TODO" ones do not count as failures:
 * the TAP specification's TODO directive). Only whole lines from their start count. */
static void tap_count(struct guest *g, const char *line, unsigned len)
{
	if (starts_with(line, len, "not ok") && !contains(line, len, "# TODO"))
		g->tap_not_ok++;
	else if (len == 2 ? starts_with(line, len, "ok") : starts_with(line, len, "ok "))
		g->tap_ok++;
}

/* Prints the buffered line; newline: it ended there (else it was full). */
static void flush_locked(struct guest_locked gl, bool newline)
{
	struct guest *g = gl.g;
	if (!g->console_len) {
		g->console_cont &= !newline;
		return;
	}
	if (!g->console_cont)
		tap_count(g, g->console_line, g->console_len);
	if (!g->tsc_first_line)
		g->tsc_first_line = rdtsc(); /* the boot-time figure (report.c) */
	printk("[%s] %.*s\n", g->name, (int)g->console_len, g->console_line);
	g->console_len = 0;
	g->console_cont = !newline;
}

void guest_console_flush(struct guest *g)
{
	struct guest_locked gl = guest_lock(g);
	flush_locked(gl, true);
	guest_unlock(gl);
}

void guest_console_put(struct guest *g, char c)
{
	if (c == '\r')
		return;
	struct guest_locked gl = guest_lock(g);
	if (c == '\n') {
		if (!g->console_len) /* an empty line still shows */
			printk("[%s] \n", g->name);
		flush_locked(gl, true);
	} else {
		if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7E)
			c = '?';
		g->console_line[g->console_len++] = c;
		if (g->console_len == GUEST_CONSOLE_LINE)
			flush_locked(gl, false);
	}
	guest_unlock(gl);
}
