/*
 * The GDB remote protocol's packet layer (gdb_proto.h). Receiving: a small state
 * machine over the bytes ($, data, #, two checksum digits) that acks with '+' or '-';
 * a good packet has its run-lengths expanded and goes to the command table. Sending:
 * the reply text is escaped, run-length encoded and framed. Every length is checked
 * against its buffer; malformed commands get "E" replies, unknown ones the empty reply.
 */
#include <keel/compiler.h>
#include <keel/errno.h>
#include <keel/string.h>

#include "gdb_proto.h"

static const char hexdig[] = "0123456789abcdef";

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- Replies */

static void reply_str(struct gdb_stub *s, const char *str)
{
	size_t n = strlen(str);
	if (n > sizeof(s->reply) - s->reply_len)
		n = sizeof(s->reply) - s->reply_len;
	memcpy(s->reply + s->reply_len, str, n);
	s->reply_len += n;
}

static void reply_hex(struct gdb_stub *s, const void *data, size_t len)
{
	const uint8_t *b = data;
	for (size_t i = 0; i < len && s->reply_len + 2 <= sizeof(s->reply); i++) {
		s->reply[s->reply_len++] = hexdig[b[i] >> 4];
		s->reply[s->reply_len++] = hexdig[b[i] & 15];
	}
}

/* A number in hex, shortest form. */
static void reply_num(struct gdb_stub *s, uint64_t v)
{
	char buf[17];
	int i = 16;
	buf[i] = '\0';
	do {
		buf[--i] = hexdig[v & 15];
		v >>= 4;
	} while (v);
	reply_str(s, buf + i);
}

static void reply_err(struct gdb_stub *s, int err)
{
	uint8_t e = (uint8_t)(err < 0 ? -err : err);
	reply_str(s, "E");
	reply_hex(s, &e, 1);
}

/* One character of the framed reply, escaped when it is special (and counted). */
static void out_put(struct gdb_stub *s, char c, uint8_t *sum)
{
	if (c == '$' || c == '#' || c == '}' || c == '*') {
		s->out[s->out_len++] = '}';
		*sum += '}';
		c ^= 0x20;
	}
	s->out[s->out_len++] = c;
	*sum += (uint8_t)c;
}

/*
 * Frames reply as $data#xx, runs of more than 3 equal characters as c*N (N = repeats +
 * 29, never '#' or '$', at most '~'), and sends it. out holds 2 * reply + 4 at most.
 */
static void reply_send(struct gdb_stub *s)
{
	uint8_t sum = 0;
	s->out_len = 0;
	s->out[s->out_len++] = '$';
	for (size_t i = 0; i < s->reply_len;) {
		char c = s->reply[i];
		size_t run = 1;
		while (i + run < s->reply_len && s->reply[i + run] == c && run < 98)
			run++;
		size_t rep = run - 1;
		while (rep + 29 == '#' || rep + 29 == '$')
			rep--;
		out_put(s, c, &sum);
		if (rep >= 3 && c != '}' && c != '$' && c != '#' && c != '*') {
			s->out[s->out_len++] = '*';
			s->out[s->out_len++] = (char)(rep + 29);
			sum += (uint8_t)'*' + (uint8_t)(rep + 29);
			i += rep + 1;
		} else {
			i++;
		}
	}
	s->out[s->out_len++] = '#';
	s->out[s->out_len++] = hexdig[sum >> 4];
	s->out[s->out_len++] = hexdig[sum & 15];
	s->ops->send(s->ctx, s->out, s->out_len);
	s->reply_len = 0;
}

/* ---- Parsing the command text */

/* Parses hex digits at *p into *v (at most 16); false if none or too many. */
static bool parse_hex(const char **p, uint64_t *v)
{
	unsigned n = 0;
	*v = 0;
	for (int d; (d = hexval(**p)) >= 0; (*p)++, n++) {
		if (n == 16)
			return false;
		*v = *v << 4 | (uint64_t)d;
	}
	return n > 0;
}

/* "ADDR,LEN" then the character `end` (or the string's end when end is 0). */
static bool parse_addr_len(const char **p, uint64_t *addr, uint64_t *len, char end)
{
	if (!parse_hex(p, addr) || **p != ',')
		return false;
	(*p)++;
	if (!parse_hex(p, len) || **p != end)
		return false;
	if (end)
		(*p)++;
	return true;
}

/* Decodes 2 * len hex digits at p into buf; false on a bad digit or a short string. */
static bool unhex(const char *p, size_t avail, uint8_t *buf, size_t len)
{
	if (avail < 2 * len)
		return false;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool all_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (hexval(p[i]) < 0)
			return false;
	return true;
}

/* A thread id of H/T/vCont: "-1" (all: 0 here), "0" (any: 0) or a hex number. */
static bool parse_tid(const char **p, unsigned *tid)
{
	uint64_t v;
	if ((*p)[0] == '-' && (*p)[1] == '1') {
		*p += 2;
		*tid = 0;
		return true;
	}
	if (!parse_hex(p, &v) || v > 0xFFFF)
		return false;
	*tid = (unsigned)v;
	return true;
}

static bool tid_valid(struct gdb_stub *s, unsigned tid)
{
	return tid >= 1 && tid <= s->ops->thread_count(s->ctx);
}

/* The thread a register or step command means: the selected one, else the stopped one. */
static unsigned tid_or_stopped(struct gdb_stub *s, unsigned tid)
{
	return tid ? tid : (s->stop_tid ? s->stop_tid : 1);
}

/* ---- Commands: each gets the text after its first character (p) */

#define MEM_MAX ((GDB_PKT_MAX - 8) / 2) /* bytes one m reply holds */

static void regs_put(struct gdb_stub *s, const struct gdb_regs *r, unsigned first, unsigned last)
{
	for (unsigned i = first; i <= last; i++) {
		if (i < 16)
			reply_hex(s, &r->gpr[i], 8);
		else if (i == 16)
			reply_hex(s, &r->rip, 8);
		else if (i == 17)
			reply_hex(s, &r->eflags, 4);
		else
			reply_hex(s, &r->seg[i - 18], 4);
	}
}

/* Register i of r: where it is and how wide. */
static uint8_t *reg_slot(struct gdb_regs *r, unsigned i, size_t *size)
{
	*size = i <= 16 ? 8 : 4;
	if (i < 16)
		return (uint8_t *)&r->gpr[i];
	if (i == 16)
		return (uint8_t *)&r->rip;
	if (i == 17)
		return (uint8_t *)&r->eflags;
	return (uint8_t *)&r->seg[i - 18];
}

static void cmd_g(struct gdb_stub *s, const char *p __unused)
{
	struct gdb_regs r;
	int err = s->ops->get_regs(s->ctx, tid_or_stopped(s, s->g_tid), &r);
	if (err)
		return reply_err(s, err);
	regs_put(s, &r, 0, GDB_REG_COUNT - 1);
}

/* G: the whole block; a shorter one changes the registers it covers (whole ones). */
static void cmd_G(struct gdb_stub *s, const char *p)
{
	struct gdb_regs r;
	unsigned tid = tid_or_stopped(s, s->g_tid);
	size_t avail = strlen(p), at = 0;
	int err = s->ops->get_regs(s->ctx, tid, &r);
	if (err)
		return reply_err(s, err);
	if (avail % 2 || avail > 2 * GDB_REGS_BYTES || !all_hex(p, avail))
		return reply_err(s, -EINVAL);
	for (unsigned i = 0; i < GDB_REG_COUNT; i++) {
		size_t size;
		uint8_t *slot = reg_slot(&r, i, &size);
		if (at + 2 * size > avail)
			break;
		if (!unhex(p + at, avail - at, slot, size))
			return reply_err(s, -EINVAL);
		at += 2 * size;
	}
	err = s->ops->set_regs(s->ctx, tid, &r);
	reply_str(s, err ? "E05" : "OK");
}

static void cmd_p(struct gdb_stub *s, const char *p)
{
	struct gdb_regs r;
	uint64_t n;
	if (!parse_hex(&p, &n) || *p)
		return reply_err(s, -EINVAL);
	if (n >= GDB_REG_COUNT) /* x87/SSE and beyond: not available */
		return reply_str(s, "xxxxxxxx");
	int err = s->ops->get_regs(s->ctx, tid_or_stopped(s, s->g_tid), &r);
	if (err)
		return reply_err(s, err);
	regs_put(s, &r, (unsigned)n, (unsigned)n);
}

static void cmd_P(struct gdb_stub *s, const char *p)
{
	struct gdb_regs r;
	uint64_t n;
	size_t size;
	unsigned tid = tid_or_stopped(s, s->g_tid);
	if (!parse_hex(&p, &n) || *p++ != '=' || n >= GDB_REG_COUNT)
		return reply_err(s, -EINVAL);
	int err = s->ops->get_regs(s->ctx, tid, &r);
	if (err)
		return reply_err(s, err);
	uint8_t *slot = reg_slot(&r, (unsigned)n, &size);
	if (strlen(p) != 2 * size || !unhex(p, 2 * size, slot, size))
		return reply_err(s, -EINVAL);
	err = s->ops->set_regs(s->ctx, tid, &r);
	reply_str(s, err ? "E05" : "OK");
}

/* m: as many bytes as could be read from the start; an error only if none. */
static void cmd_m(struct gdb_stub *s, const char *p)
{
	static uint8_t buf[MEM_MAX];
	uint64_t addr, len;
	size_t done = 0;
	if (!parse_addr_len(&p, &addr, &len, 0))
		return reply_err(s, -EINVAL);
	if (len > MEM_MAX)
		len = MEM_MAX;
	int err = s->ops->read_mem(s->ctx, addr, buf, (size_t)len, &done);
	if (err && !done)
		return reply_err(s, err);
	reply_hex(s, buf, done);
}

static void cmd_M(struct gdb_stub *s, const char *p)
{
	static uint8_t buf[GDB_PKT_MAX / 2];
	uint64_t addr, len;
	if (!parse_addr_len(&p, &addr, &len, ':') || len > sizeof(buf) || strlen(p) != 2 * len ||
	    !unhex(p, 2 * len, buf, (size_t)len))
		return reply_err(s, -EINVAL);
	int err = len ? s->ops->write_mem(s->ctx, addr, buf, (size_t)len) : 0;
	return err ? reply_err(s, err) : reply_str(s, "OK");
}

/* X: binary data, '}' escaping the next byte (^ 0x20); it may hold NULs, so its length
 * comes from the packet's, not strlen. */
static void cmd_X(struct gdb_stub *s, const char *p)
{
	static uint8_t buf[GDB_PKT_MAX];
	uint64_t addr, len;
	size_t n = 0;
	const char *end = s->cmd + s->cmd_len;
	if (!parse_addr_len(&p, &addr, &len, ':') || len > sizeof(buf))
		return reply_err(s, -EINVAL);
	while (p < end && n < len) {
		char c = *p++;
		if (c == '}') {
			if (p == end)
				break;
			c = (char)(*p++ ^ 0x20);
		}
		buf[n++] = (uint8_t)c;
	}
	if (n != len || p != end)
		return reply_err(s, -EINVAL);
	int err = len ? s->ops->write_mem(s->ctx, addr, buf, (size_t)len) : 0;
	return err ? reply_err(s, err) : reply_str(s, "OK");
}

/* Resumes (step_tid 0: all); no reply now: the stop reply comes later. */
static void resume(struct gdb_stub *s, unsigned step_tid)
{
	int err = s->ops->resume(s->ctx, step_tid);
	if (err)
		return reply_err(s, err);
	s->running = true;
}

/* c/s [ADDR] and C/S SIG[;ADDR]: the signal is dropped (a guest has none). */
static void continue_or_step(struct gdb_stub *s, const char *p, bool step, bool sig)
{
	uint64_t v;
	unsigned tid = tid_or_stopped(s, s->c_tid);
	if (sig && (!parse_hex(&p, &v) || (*p && *p++ != ';')))
		return reply_err(s, -EINVAL);
	if (*p) {
		struct gdb_regs r;
		if (!parse_hex(&p, &v) || *p)
			return reply_err(s, -EINVAL);
		if (s->ops->get_regs(s->ctx, tid, &r) ||
		    (r.rip = v, s->ops->set_regs(s->ctx, tid, &r)))
			return reply_err(s, -EIO);
	}
	resume(s, step ? tid : 0);
}

static void cmd_c(struct gdb_stub *s, const char *p)
{
	continue_or_step(s, p, false, false);
}
static void cmd_C(struct gdb_stub *s, const char *p)
{
	continue_or_step(s, p, false, true);
}
static void cmd_s(struct gdb_stub *s, const char *p)
{
	continue_or_step(s, p, true, false);
}
static void cmd_S(struct gdb_stub *s, const char *p)
{
	continue_or_step(s, p, true, true);
}

/* Z/z TYPE,ADDR,KIND: software (0) and hardware (1) breakpoints; others unsupported. */
static void breakpoint(struct gdb_stub *s, const char *p, bool insert)
{
	uint64_t type, addr, kind;
	if (!parse_hex(&p, &type) || *p++ != ',' || !parse_addr_len(&p, &addr, &kind, 0))
		return reply_err(s, -EINVAL);
	if (type > GDB_BREAK_HW)
		return; /* watchpoints: the empty reply says "not supported" */
	int err = s->ops->breakpoint(s->ctx, (enum gdb_break)type, addr, insert);
	if (err == -ENOTSUP)
		return;
	return err ? reply_err(s, err) : reply_str(s, "OK");
}

static void cmd_Z(struct gdb_stub *s, const char *p)
{
	breakpoint(s, p, true);
}
static void cmd_z(struct gdb_stub *s, const char *p)
{
	breakpoint(s, p, false);
}

/* Hg/Hc TID: selects the thread of register and step commands. */
static void cmd_H(struct gdb_stub *s, const char *p)
{
	char op = *p++;
	unsigned tid;
	if ((op != 'g' && op != 'c') || !parse_tid(&p, &tid) || *p || (tid && !tid_valid(s, tid)))
		return reply_err(s, -EINVAL);
	*(op == 'g' ? &s->g_tid : &s->c_tid) = tid;
	reply_str(s, "OK");
}

static void cmd_T(struct gdb_stub *s, const char *p)
{
	unsigned tid;
	if (!parse_tid(&p, &tid) || *p || !tid_valid(s, tid))
		return reply_err(s, -ENOENT);
	reply_str(s, "OK");
}

static void stop_reply(struct gdb_stub *s)
{
	reply_str(s, "T");
	reply_hex(s, &s->stop_sig, 1);
	reply_str(s, "thread:");
	reply_num(s, tid_or_stopped(s, 0));
	reply_str(s, ";");
}

static void cmd_why(struct gdb_stub *s, const char *p __unused)
{
	stop_reply(s);
}

static void cmd_D(struct gdb_stub *s, const char *p __unused)
{
	reply_str(s, "OK");
	reply_send(s);
	s->running = false;
	s->ops->detach(s->ctx);
}

static void cmd_k(struct gdb_stub *s, const char *p __unused)
{
	s->running = false;
	s->ops->kill(s->ctx);
}

/* ---- q and v commands, matched by name */

static const char target_xml[] =
    "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
    "<target><architecture>i386:x86-64</architecture></target>";

/* qXfer:features:read:target.xml:OFF,LEN: a window of target_xml, 'l' on its last part. */
static void xfer_features(struct gdb_stub *s, const char *p)
{
	static const char annex[] = "target.xml:";
	uint64_t off, len, size = sizeof(target_xml) - 1;
	if (strncmp(p, annex, sizeof(annex) - 1))
		return reply_err(s, -ENOENT);
	p += sizeof(annex) - 1;
	if (!parse_addr_len(&p, &off, &len, 0))
		return reply_err(s, -EINVAL);
	if (off >= size)
		return reply_str(s, "l");
	uint64_t n = MIN(MIN(len, size - off), sizeof(s->reply) - 2);
	reply_str(s, off + n >= size ? "l" : "m");
	memcpy(s->reply + s->reply_len, target_xml + off, n);
	s->reply_len += n;
}

static void thread_list(struct gdb_stub *s, const char *p __unused)
{
	unsigned n = s->ops->thread_count(s->ctx);
	reply_str(s, "m");
	for (unsigned t = 1; t <= n; t++) {
		if (t > 1)
			reply_str(s, ",");
		reply_num(s, t);
	}
}

static void q_supported(struct gdb_stub *s, const char *p __unused)
{
	reply_str(s, "PacketSize=");
	reply_num(s, GDB_PKT_MAX);
	reply_str(s, ";qXfer:features:read+;vContSupported+");
}
static void q_thread_end(struct gdb_stub *s, const char *p __unused)
{
	reply_str(s, "l");
}
static void q_current(struct gdb_stub *s, const char *p __unused)
{
	reply_str(s, "QC");
	reply_num(s, tid_or_stopped(s, 0));
}
static void q_attached(struct gdb_stub *s, const char *p __unused)
{
	reply_str(s, "1");
}
static void q_ok(struct gdb_stub *s, const char *p __unused)
{
	reply_str(s, "OK");
}

static void v_cont_query(struct gdb_stub *s, const char *p __unused)
{
	reply_str(s, "vCont;c;C;s;S;t");
}

/* vCont;ACTION[:TID]...: the first s/S names the thread to step (the others stay
 * stopped while it steps); only c/C: continue all; t: stop. */
static void v_cont(struct gdb_stub *s, const char *p)
{
	unsigned step = 0, tid;
	bool stop = false, any = false;
	while (*p == ';') {
		char a = *++p;
		uint64_t sig;
		p++;
		if ((a == 'C' || a == 'S') && !parse_hex(&p, &sig))
			return reply_err(s, -EINVAL);
		if (a != 'c' && a != 'C' && a != 's' && a != 'S' && a != 't')
			return reply_err(s, -EINVAL);
		tid = 0;
		if (*p == ':' && (++p, !parse_tid(&p, &tid)))
			return reply_err(s, -EINVAL);
		if (tid && !tid_valid(s, tid))
			return reply_err(s, -ENOENT);
		if ((a == 's' || a == 'S') && !step)
			step = tid_or_stopped(s, tid ? tid : s->c_tid);
		stop |= a == 't';
		any = true;
	}
	if (*p || !any)
		return reply_err(s, -EINVAL);
	if (stop && !step) {
		s->running = true;
		s->ops->interrupt(s->ctx);
		return;
	}
	resume(s, step);
}

static void v_kill(struct gdb_stub *s, const char *p)
{
	reply_str(s, "OK");
	cmd_k(s, p);
}

typedef void (*gdb_cmd_fn)(struct gdb_stub *s, const char *p);

struct named_cmd {
	const char *name; /* the prefix after 'q' or 'v' */
	bool prefix;	  /* more may follow the name (arguments) */
	gdb_cmd_fn fn;
};

static const struct named_cmd q_cmds[] = {
	{ "Supported", true, q_supported },
	{ "Xfer:features:read:", true, xfer_features },
	{ "fThreadInfo", false, thread_list },
	{ "sThreadInfo", false, q_thread_end },
	{ "C", false, q_current },
	{ "Attached", true, q_attached },
	{ "Symbol:", true, q_ok },
};

static const struct named_cmd v_cmds[] = {
	{ "Cont?", false, v_cont_query },
	{ "Cont", true, v_cont },
	{ "Kill", true, v_kill },
};

/* Runs the first entry of t whose name p starts with (exactly, if not a prefix one);
 * none: the empty reply. */
static void named(struct gdb_stub *s, const char *p, const struct named_cmd *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(t[i].name);
		if (strncmp(p, t[i].name, len) || (!t[i].prefix && p[len]))
			continue;
		t[i].fn(s, p + len);
		return;
	}
}

static void cmd_q(struct gdb_stub *s, const char *p)
{
	named(s, p, q_cmds, ARRAY_SIZE(q_cmds));
}
static void cmd_v(struct gdb_stub *s, const char *p)
{
	named(s, p, v_cmds, ARRAY_SIZE(v_cmds));
}

static const gdb_cmd_fn commands[128] = {
	['?'] = cmd_why, ['g'] = cmd_g, ['G'] = cmd_G, ['p'] = cmd_p, ['P'] = cmd_P,
	['m'] = cmd_m,	 ['M'] = cmd_M, ['X'] = cmd_X, ['c'] = cmd_c, ['C'] = cmd_C,
	['s'] = cmd_s,	 ['S'] = cmd_S, ['Z'] = cmd_Z, ['z'] = cmd_z, ['H'] = cmd_H,
	['T'] = cmd_T,	 ['D'] = cmd_D, ['k'] = cmd_k, ['q'] = cmd_q, ['v'] = cmd_v,
};

/* A good packet: its command runs; a reply goes out unless it resumed the target (the
 * stop reply comes later), detached (sent already) or killed. */
static void packet_run(struct gdb_stub *s)
{
	unsigned char c = (unsigned char)s->cmd[0];
	gdb_cmd_fn fn = c < 128 ? commands[c] : NULL;
	s->packets++;
	s->reply_len = 0;
	if (fn)
		fn(s, s->cmd + 1);
	if (c == 'D' || c == 'k' || (s->running && !s->reply_len))
		return;
	reply_send(s);
}

/* ---- Receiving */

/* raw -> cmd with runs expanded: "c*N" repeats c N - 29 more times. False if the
 * result would not fit or a run has nothing before it. */
static bool rle_expand(struct gdb_stub *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->len; i++) {
		char c = s->raw[i];
		if (c != '*') {
			if (n == GDB_PKT_MAX)
				return false;
			s->cmd[n++] = c;
			continue;
		}
		if (!n || i + 1 == s->len || s->raw[i + 1] < 29 + 3)
			return false;
		size_t rep = (size_t)(unsigned char)s->raw[++i] - 29;
		if (n + rep > GDB_PKT_MAX)
			return false;
		memset(s->cmd + n, s->cmd[n - 1], rep);
		n += rep;
	}
	s->cmd[n] = '\0';
	s->cmd_len = n;
	return true;
}

static void ack(struct gdb_stub *s, char c)
{
	s->ops->send(s->ctx, &c, 1);
}

/* The second checksum digit arrived: ack and run, or nak. */
static void packet_end(struct gdb_stub *s, int lo)
{
	uint8_t theirs = (uint8_t)(s->hi << 4 | lo);
	s->rx = GDB_RX_IDLE;
	if (lo < 0 || theirs != s->sum || s->overflow || !s->len || !rle_expand(s)) {
		s->bad_packets++;
		ack(s, '-');
		return;
	}
	ack(s, '+');
	packet_run(s);
}

static void rx_idle(struct gdb_stub *s, char c)
{
	if (c == '$') {
		s->rx = GDB_RX_DATA;
		s->len = 0;
		s->sum = 0;
		s->overflow = false;
	} else if (c == 0x03) {
		s->ops->interrupt(s->ctx);
	} else if (c == '-' && s->out_len) {
		s->ops->send(s->ctx, s->out, s->out_len); /* gdb saw a bad reply: again */
	}
}

static void rx_byte(struct gdb_stub *s, char c)
{
	int d;
	switch (s->rx) {
	case GDB_RX_IDLE:
		rx_idle(s, c);
		break;
	case GDB_RX_DATA:
		if (c == '$') /* a new packet starts: the broken one is dropped */
			rx_idle(s, c);
		else if (c == '#')
			s->rx = GDB_RX_SUM1;
		else if (s->len == sizeof(s->raw))
			s->overflow = true;
		else
			s->raw[s->len++] = c, s->sum += (uint8_t)c;
		break;
	case GDB_RX_SUM1:
		d = hexval(c);
		s->hi = (uint8_t)(d < 0 ? 0 : d);
		s->rx = GDB_RX_SUM2;
		if (d < 0)
			packet_end(s, -1);
		break;
	case GDB_RX_SUM2:
		packet_end(s, hexval(c));
		break;
	}
}

void gdb_stub_input(struct gdb_stub *s, const char *bytes, size_t len)
{
	for (size_t i = 0; i < len; i++)
		rx_byte(s, bytes[i]);
}

void gdb_stub_init(struct gdb_stub *s, const struct gdb_ops *ops, void *ctx)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->ctx = ctx;
	s->stop_tid = 1;
	s->stop_sig = 5;
}

void gdb_stub_stopped(struct gdb_stub *s, unsigned tid, uint8_t sig)
{
	s->stop_tid = tid;
	s->stop_sig = sig;
	if (!s->running)
		return;
	s->running = false;
	s->reply_len = 0;
	stop_reply(s);
	reply_send(s);
}

void gdb_stub_exited(struct gdb_stub *s, uint8_t status, bool killed)
{
	s->running = false;
	s->reply_len = 0;
	reply_str(s, killed ? "X" : "W");
	reply_hex(s, &status, 1);
	reply_send(s);
}
