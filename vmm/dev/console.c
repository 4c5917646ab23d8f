/*
 * The guest console's line buffer (console.h), in struct guest under the guest lock.
 * The only lock taken inside the guest lock is the console's own (printk).
 */
#include <keel/printk.h>

#include "console.h"

static void flush_locked(struct guest_locked gl)
{
	struct guest *g = gl.g;
	if (!g->console_len)
		return;
	printk("[%s] %.*s\n", g->name, (int)g->console_len, g->console_line);
	g->console_len = 0;
}

void guest_console_flush(struct guest *g)
{
	struct guest_locked gl = guest_lock(g);
	flush_locked(gl);
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
		flush_locked(gl);
	} else {
		if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7E)
			c = '?';
		g->console_line[g->console_len++] = c;
		if (g->console_len == GUEST_CONSOLE_LINE)
			flush_locked(gl);
	}
	guest_unlock(gl);
}
