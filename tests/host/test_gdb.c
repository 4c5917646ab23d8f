/*
 * Host tests of the GDB remote protocol's packet layer (vmm/gdb/gdb_proto.c) against a
 * fake target: 3 threads with known registers, 4 KiB of memory at 0x1000 (anything else
 * faults), and a record of what the stub asked the target to do. Framing, checksums,
 * acks, escapes and run-lengths are checked from the bytes the stub sends; malformed
 * packets, bad checksums and out-of-range memory must get error replies, and a fuzz
 * run feeds random and mutated packets under ASan/UBSan.
 */
#include <stdio.h>
#include <string.h>

#include <keel/compiler.h>
#include <keel/errno.h>

#include "frame_fake.h"
#include "gdb/gdb_proto.h"

#define MEM_BASE 0x1000u
#define MEM_SIZE 0x1000u
#define THREADS 3

static struct fake {
	struct gdb_regs regs[THREADS + 1];
	uint8_t mem[MEM_SIZE];
	char sent[1 << 16];
	size_t sent_len;
	int resumes, last_step, interrupts, detaches, kills, get_calls;
	int bp_type;
	uint64_t bp_addr;
	bool bp_insert;
} f;
static struct gdb_stub stub;

static unsigned f_threads(void *ctx)
{
	return THREADS;
}
static int f_get(void *ctx, unsigned tid, struct gdb_regs *r)
{
	f.get_calls++;
	if (tid < 1 || tid > THREADS)
		return -ENOENT;
	*r = f.regs[tid];
	return 0;
}
static int f_set(void *ctx, unsigned tid, const struct gdb_regs *r)
{
	if (tid < 1 || tid > THREADS)
		return -ENOENT;
	f.regs[tid] = *r;
	return 0;
}
static int f_read(void *ctx, uint64_t addr, void *buf, size_t len, size_t *done)
{
	*done = 0;
	while (*done < len && addr + *done >= MEM_BASE && addr + *done < MEM_BASE + MEM_SIZE) {
		((uint8_t *)buf)[*done] = f.mem[addr + *done - MEM_BASE];
		(*done)++;
	}
	return *done == len ? 0 : -EFAULT;
}
static int f_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	if (addr < MEM_BASE || addr > MEM_BASE + MEM_SIZE || len > MEM_BASE + MEM_SIZE - addr)
		return -EFAULT;
	memcpy(f.mem + (addr - MEM_BASE), buf, len);
	return 0;
}
static int f_break(void *ctx, enum gdb_break type, uint64_t addr, bool insert)
{
	f.bp_type = (int)type;
	f.bp_addr = addr;
	f.bp_insert = insert;
	return type == GDB_BREAK_HW ? -ENOTSUP : 0;
}
static int f_resume(void *ctx, unsigned step)
{
	f.resumes++;
	f.last_step = (int)step;
	return 0;
}
static void f_interrupt(void *ctx)
{
	f.interrupts++;
}
static void f_detach(void *ctx)
{
	f.detaches++;
}
static void f_kill(void *ctx)
{
	f.kills++;
}
static void f_send(void *ctx, const char *b, size_t n)
{
	if (n > sizeof(f.sent) - f.sent_len)
		n = sizeof(f.sent) - f.sent_len;
	memcpy(f.sent + f.sent_len, b, n);
	f.sent_len += n;
}

static const struct gdb_ops ops = { f_threads, f_get,	    f_set,    f_read, f_write, f_break,
				    f_resume,  f_interrupt, f_detach, f_kill, f_send };

static void reset(void)
{
	memset(&f, 0, sizeof(f));
	for (unsigned t = 1; t <= THREADS; t++) {
		for (unsigned i = 0; i < 16; i++)
			f.regs[t].gpr[i] = 0x1111111111111111ull * i + t;
		f.regs[t].rip = 0x100000 + t;
		f.regs[t].eflags = 0x202;
		for (unsigned i = 0; i < 6; i++)
			f.regs[t].seg[i] = 8 * i;
	}
	for (unsigned i = 0; i < MEM_SIZE; i++)
		f.mem[i] = (uint8_t)(i * 7);
	gdb_stub_init(&stub, &ops, NULL);
}

/* Frames cmd (len bytes, may hold NULs) with a correct checksum and feeds it. */
static void feed_n(const char *cmd, size_t len)
{
	static char buf[3 * GDB_PKT_MAX];
	uint8_t sum = 0;
	size_t n = 0;
	buf[n++] = '$';
	for (size_t i = 0; i < len && n < sizeof(buf) - 4; i++) {
		buf[n++] = cmd[i];
		sum += (uint8_t)cmd[i];
	}
	n += (size_t)snprintf(buf + n, 4, "#%02x", sum);
	f.sent_len = 0;
	gdb_stub_input(&stub, buf, n);
}
static void feed(const char *cmd)
{
	feed_n(cmd, strlen(cmd));
}

/*
 * Decodes the packets the stub sent since the last feed: skips acks, checks every
 * packet's checksum, undoes escapes and run-lengths. The last packet's text goes to
 * out; returns the number of packets, -1 on a bad checksum or malformed framing.
 */
static int replies(char *out, size_t cap)
{
	int count = 0;
	size_t i = 0;
	out[0] = '\0';
	while (i < f.sent_len) {
		if (f.sent[i] == '+' || f.sent[i] == '-') {
			i++;
			continue;
		}
		if (f.sent[i++] != '$')
			return -1;
		uint8_t sum = 0;
		size_t n = 0;
		while (i < f.sent_len && f.sent[i] != '#') {
			char c = f.sent[i++];
			sum += (uint8_t)c;
			if (c == '}') {
				sum += (uint8_t)f.sent[i];
				c = f.sent[i++] ^ 0x20;
			} else if (c == '*') {
				int rep = f.sent[i] - 29;
				sum += (uint8_t)f.sent[i++];
				if (rep < 3 || !n || f.sent[i - 1] == '#' || f.sent[i - 1] == '$')
					return -1;
				for (int k = 0; k < rep && n < cap - 1; k++, n++)
					out[n] = out[n - 1];
				continue;
			}
			if (n < cap - 1)
				out[n++] = c;
		}
		unsigned theirs;
		if (i + 3 > f.sent_len || sscanf(f.sent + i + 1, "%2x", &theirs) != 1 ||
		    theirs != sum)
			return -1;
		out[n] = '\0';
		i += 3;
		count++;
	}
	return count;
}

static char r[2 * GDB_PKT_MAX];

/* Feeds cmd and expects exactly one reply equal to want. */
static bool answers(const char *cmd, const char *want)
{
	feed(cmd);
	if (replies(r, sizeof(r)) != 1 || strcmp(r, want)) {
		snprintf(fake_why, sizeof(fake_why), "%s -> '%.80s' (want '%s')", cmd, r, want);
		return false;
	}
	return f.sent[0] == '+';
}

static bool good_packet_is_acked_and_answered(void)
{
	T_ASSERT(answers("?", "T05thread:1;"));
	T_ASSERT(answers("qSupported:multiprocess+;swbreak+",
			 "PacketSize=1000;qXfer:features:read+;"
			 "vContSupported+"));
	T_ASSERT(answers("qAttached", "1"));
	T_ASSERT(answers("vMustReplyEmpty", ""));
	T_ASSERT(answers("Qunknown", ""));
	return true;
}

static bool bad_checksum_is_refused_and_not_run(void)
{
	f.sent_len = 0;
	gdb_stub_input(&stub, "$g#00", 5);
	T_ASSERT(f.sent_len == 1 && f.sent[0] == '-' && f.get_calls == 0);
	gdb_stub_input(&stub, "$g#zz", 5); /* not hex */
	T_ASSERT(f.get_calls == 0 && stub.bad_packets == 2);
	f.sent_len = 0;
	gdb_stub_input(&stub, "$g$?#3f", 7); /* a '$' restarts: only "?" runs */
	T_ASSERT(replies(r, sizeof(r)) == 1 && !strcmp(r, "T05thread:1;") && f.get_calls == 0);
	return true;
}

/* "-" from gdb: the last reply goes out again, unchanged. */
static bool nak_resends_the_last_reply(void)
{
	feed("qC");
	size_t n = f.sent_len - 1;
	char first[64];
	memcpy(first, f.sent + 1, n);
	f.sent_len = 0;
	gdb_stub_input(&stub, "-", 1);
	T_ASSERT(f.sent_len == n && !memcmp(f.sent, first, n));
	return true;
}

static bool overlong_packet_is_refused(void)
{
	static char big[GDB_PKT_MAX + 10];
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	feed(big);
	T_ASSERT(f.sent_len == 1 && f.sent[0] == '-');
	T_ASSERT(answers("?", "T05thread:1;")); /* and the next one is fine */
	return true;
}

/* The g reply is gdb's amd64 layout: 16 GPRs, rip (8 bytes each), eflags, 6 selectors
 * (4 bytes each), little-endian. */
static bool g_is_the_amd64_layout(void)
{
	feed("g");
	T_ASSERT(replies(r, sizeof(r)) == 1 && strlen(r) == 2 * GDB_REGS_BYTES);
	T_ASSERT(!strncmp(r, "0100000000000000", 16));		 /* rax of thread 1 */
	T_ASSERT(!strncmp(r + 16 * 16, "0100100000000000", 16)); /* rip 0x100001 */
	T_ASSERT(!strncmp(r + 17 * 16, "02020000", 8));		 /* eflags */
	T_ASSERT(!strncmp(r + 17 * 16 + 8 * 2, "08000000", 8));	 /* ss = 8 */
	return true;
}

static bool G_P_and_p_write_and_read_registers(void)
{
	char cmd[2 * GDB_REGS_BYTES + 2] = "G";
	memset(cmd + 1, '0', 2 * GDB_REGS_BYTES);
	memcpy(cmd + 1, "efbeadde", 8); /* rax = 0xdeadbeef, the rest 0 */
	T_ASSERT(answers(cmd, "OK"));
	T_ASSERT(f.regs[1].gpr[0] == 0xdeadbeef && f.regs[1].rip == 0 && f.regs[1].seg[5] == 0);
	T_ASSERT(answers("P10=0000200000000000", "OK") && f.regs[1].rip == 0x200000);
	T_ASSERT(answers("p10", "0000200000000000"));
	T_ASSERT(answers("p11", "00000000"));
	T_ASSERT(answers("p30", "xxxxxxxx")); /* beyond the core registers */
	T_ASSERT(answers("P11=123", "E16"));  /* wrong width */
	T_ASSERT(answers("P99=00000000", "E16"));
	T_ASSERT(answers("Gzz", "E16"));
	return true;
}

static bool memory_reads_stop_at_the_first_fault(void)
{
	T_ASSERT(answers("m1000,4", "00070e15"));
	T_ASSERT(answers("m1ffe,4", "f2f9")); /* 2 bytes, then the fault */
	T_ASSERT(answers("m3000,4", "E0e"));
	T_ASSERT(answers("mffffffffffffffff,10", "E0e"));
	T_ASSERT(answers("m1000", "E16"));
	T_ASSERT(answers("m,4", "E16"));
	T_ASSERT(answers("m10000000000000000,1", "E16")); /* 17 digits */
	feed("m1000,ffffffff");				  /* clamped to one packet */
	T_ASSERT(replies(r, sizeof(r)) == 1 && strlen(r) == 2 * ((GDB_PKT_MAX - 8) / 2));
	return true;
}

static bool M_and_X_write_memory(void)
{
	T_ASSERT(answers("M1000,3:a1b2c3", "OK") && f.mem[0] == 0xa1 && f.mem[2] == 0xc3);
	T_ASSERT(answers("M1000,3:a1b2", "E16"));
	T_ASSERT(answers("M1ffe,4:00000000", "E0e"));
	T_ASSERT(answers("M1000,1:zz", "E16"));
	/* X: binary with the escaped bytes '#', '$', '}', '*' and a NUL */
	const char x[] = "X1010,6:}\x03}\x04}]}\x0a\x00z";
	feed_n(x, sizeof(x) - 1);
	T_ASSERT(replies(r, sizeof(r)) == 1 && !strcmp(r, "OK"));
	const uint8_t want[6] = { '#', '$', '}', '*', 0, 'z' };
	T_ASSERT(!memcmp(f.mem + 0x10, want, 6));
	T_ASSERT(answers("X1010,2:a", "E16"));	/* shorter than said */
	T_ASSERT(answers("X1010,1:ab", "E16")); /* longer */
	T_ASSERT(answers("X1010,0:", "OK"));	/* gdb's probe */
	T_ASSERT(answers("X5000,1:a", "E0e"));
	return true;
}

/* Replies use run-lengths (checked by replies()); input may use them too. */
static bool run_lengths_both_ways(void)
{
	memset(f.mem, 0, 64);
	feed("m1000,40");
	T_ASSERT(replies(r, sizeof(r)) == 1 && strlen(r) == 128 && strspn(r, "0") == 128);
	T_ASSERT(f.sent_len < 40);		/* it was compressed */
	T_ASSERT(answers("M1000,5:1*&", "OK")); /* '1' and 9 more: 5 bytes of 0x11 */
	T_ASSERT(f.mem[0] == 0x11 && f.mem[4] == 0x11 && f.mem[5] == 0);
	feed("*&"); /* a run with nothing before it */
	T_ASSERT(f.sent_len == 1 && f.sent[0] == '-');
	return true;
}

static bool threads_are_listed_and_selected(void)
{
	T_ASSERT(answers("qfThreadInfo", "m1,2,3"));
	T_ASSERT(answers("qsThreadInfo", "l"));
	T_ASSERT(answers("Hg2", "OK"));
	feed("g");
	T_ASSERT(replies(r, sizeof(r)) == 1 && !strncmp(r, "0200000000000000", 16));
	T_ASSERT(answers("Hg4", "E16") && answers("Hgxyz", "E16") && answers("Hx1", "E16"));
	T_ASSERT(answers("Hc-1", "OK") && answers("Hg0", "OK"));
	T_ASSERT(answers("T3", "OK") && answers("T4", "E02") && answers("T", "E02"));
	T_ASSERT(answers("qC", "QC1"));
	return true;
}

static bool resume_step_and_stop_replies(void)
{
	feed("c");
	T_ASSERT(f.resumes == 1 && f.last_step == 0 && f.sent_len == 1); /* only the ack */
	f.sent_len = 0;
	gdb_stub_stopped(&stub, 2, 5);
	T_ASSERT(replies(r, sizeof(r)) == 1 && !strcmp(r, "T05thread:2;"));
	T_ASSERT(answers("Hc3", "OK"));
	feed("s");
	T_ASSERT(f.resumes == 2 && f.last_step == 3);
	gdb_stub_stopped(&stub, 3, 5);
	T_ASSERT(answers("vCont?", "vCont;c;C;s;S;t"));
	feed("vCont;s:1;c");
	T_ASSERT(f.resumes == 3 && f.last_step == 1);
	gdb_stub_stopped(&stub, 1, 5);
	feed("vCont;c");
	T_ASSERT(f.resumes == 4 && f.last_step == 0);
	gdb_stub_input(&stub, "\x03", 1);
	T_ASSERT(f.interrupts == 1);
	f.sent_len = 0;
	gdb_stub_stopped(&stub, 1, 2);
	T_ASSERT(replies(r, sizeof(r)) == 1 && !strcmp(r, "T02thread:1;"));
	T_ASSERT(answers("vCont;x", "E16") && answers("vCont;s:9", "E02"));
	T_ASSERT(answers("c12zz", "E16"));
	feed("c100"); /* continue at 0x100: rip of the Hc thread */
	T_ASSERT(f.regs[3].rip == 0x100 && f.resumes == 5);
	gdb_stub_stopped(&stub, 1, 5);
	return true;
}

static bool breakpoints_detach_and_kill(void)
{
	T_ASSERT(answers("Z0,100020,1", "OK") && f.bp_insert && f.bp_addr == 0x100020);
	T_ASSERT(answers("z0,100020,1", "OK") && !f.bp_insert);
	T_ASSERT(answers("Z1,100020,1", "")); /* the target has none: not supported */
	T_ASSERT(answers("Z2,2000,4", ""));   /* watchpoints: not supported */
	T_ASSERT(answers("Z0,zz", "E16"));
	T_ASSERT(answers("D", "OK") && f.detaches == 1);
	feed("k");
	T_ASSERT(f.kills == 1 && f.sent_len == 1);
	f.sent_len = 0;
	gdb_stub_exited(&stub, 0, false);
	T_ASSERT(replies(r, sizeof(r)) == 1 && !strcmp(r, "W00"));
	return true;
}

/* target.xml read in small windows gives one document naming i386:x86-64. */
static bool target_xml_names_the_architecture(void)
{
	char doc[1024] = "", cmd[80];
	for (unsigned off = 0;; off += 16) {
		snprintf(cmd, sizeof(cmd), "qXfer:features:read:target.xml:%x,10", off);
		feed(cmd);
		T_ASSERT(replies(r, sizeof(r)) == 1 && (r[0] == 'm' || r[0] == 'l'));
		T_ASSERT(strlen(doc) + strlen(r + 1) < sizeof(doc));
		strcat(doc, r + 1);
		if (r[0] == 'l')
			break;
	}
	T_ASSERT(strstr(doc, "<architecture>i386:x86-64</architecture>") != NULL);
	T_ASSERT(answers("qXfer:features:read:other.xml:0,10", "E02"));
	return true;
}

/* Random bytes, random framed packets and mutations of real ones: no crash (ASan),
 * every packet the stub sends has a good checksum. */
static bool fuzz_never_breaks_framing(void)
{
	static const char *const seeds[] = { "g",
					     "G00",
					     "p7",
					     "P7=0000000000000000",
					     "m1000,10",
					     "M1000,2:abcd",
					     "X1000,1:a",
					     "c",
					     "s",
					     "Z0,1000,1",
					     "z0,1000,1",
					     "Hg1",
					     "T1",
					     "vCont;s:1;c",
					     "qfThreadInfo",
					     "qXfer:features:read:target.xml:0,fff",
					     "?",
					     "D" };
	static char pkt[GDB_PKT_MAX + 16];
	fake_rng_state = 0x9e3779b97f4a7c15ull;
	for (unsigned i = 0; i < 200000; i++) {
		size_t len;
		uint64_t rnd = fake_rng_next();
		if (rnd % 3 == 0) { /* raw bytes, no framing promised */
			len = fake_rng_next() % 64;
			for (size_t k = 0; k < len; k++)
				pkt[k] = (char)fake_rng_next();
			f.sent_len = 0;
			gdb_stub_input(&stub, pkt, len);
		} else {
			const char *seed = seeds[fake_rng_next() % ARRAY_SIZE(seeds)];
			len = strlen(seed);
			memcpy(pkt, seed, len);
			for (unsigned m = fake_rng_next() % 4; m; m--) {
				size_t at = len ? fake_rng_next() % len : 0;
				if (len < sizeof(pkt) - 1 && fake_rng_next() % 2) {
					pkt[len] = pkt[at];
					len++;
				}
				pkt[at] = (char)(fake_rng_next() % 128);
			}
			feed_n(pkt, len);
		}
		T_ASSERT(replies(r, sizeof(r)) >= 0);
		if (stub.running)
			gdb_stub_stopped(&stub, 1, 5);
	}
	return true;
}

static const struct fake_test tests[] = {
	{ "good_packet_is_acked_and_answered", good_packet_is_acked_and_answered },
	{ "bad_checksum_is_refused_and_not_run", bad_checksum_is_refused_and_not_run },
	{ "nak_resends_the_last_reply", nak_resends_the_last_reply },
	{ "overlong_packet_is_refused", overlong_packet_is_refused },
	{ "g_is_the_amd64_layout", g_is_the_amd64_layout },
	{ "G_P_and_p_write_and_read_registers", G_P_and_p_write_and_read_registers },
	{ "memory_reads_stop_at_the_first_fault", memory_reads_stop_at_the_first_fault },
	{ "M_and_X_write_memory", M_and_X_write_memory },
	{ "run_lengths_both_ways", run_lengths_both_ways },
	{ "threads_are_listed_and_selected", threads_are_listed_and_selected },
	{ "resume_step_and_stop_replies", resume_step_and_stop_replies },
	{ "breakpoints_detach_and_kill", breakpoints_detach_and_kill },
	{ "target_xml_names_the_architecture", target_xml_names_the_architecture },
	{ "fuzz_never_breaks_framing", fuzz_never_breaks_framing },
};

int main(int argc, char **argv)
{
	return fake_run_tests(tests, ARRAY_SIZE(tests), argc, argv, reset);
}
