/*
 * The GDB remote serial protocol, packet layer only (gdb's manual, appendix "Remote
 * Protocol"): framing ($data#xx), checksums and acknowledgements, escapes ('}' and
 * byte ^ 0x20), run-length encoding in both directions, the break byte 0x03, and the
 * commands a stop-mode x86-64 stub answers: qSupported, target.xml (architecture only),
 * ?, g/G, p/P, m/M, X, c/s (and C/S), vCont, Z0/z0, Z1/z1, threads (qfThreadInfo,
 * qsThreadInfo, qC, H, T), D, k. It knows nothing of vCPUs or memory: everything the
 * target does goes through struct gdb_ops. Pure and host-tested (tests/host/test_gdb.c):
 * any byte sequence is safe to feed.
 *
 * Registers travel in gdb's i386:x86-64 layout (amd64 without x87/SSE: 16 GPRs, rip,
 * eflags, 6 selectors = 24 registers, 164 bytes); target.xml names that architecture so
 * gdb uses it for 32-bit and real-mode guests too (their registers zero-extended).
 * Threads are numbered from 1.
 */
#ifndef VMM_GDB_PROTO_H
#define VMM_GDB_PROTO_H

#include <keel/types.h>

#define GDB_PKT_MAX 4096 /* PacketSize advertised: the longest packet gdb may send */
#define GDB_REG_COUNT 24
#define GDB_REGS_BYTES (17 * 8 + 7 * 4)

/* gdb's amd64 core registers 0-23 (gdb/features/i386/64bit-core.xml order). */
struct gdb_regs {
	uint64_t gpr[16]; /* rax rbx rcx rdx rsi rdi rbp rsp r8 .. r15 */
	uint64_t rip;
	uint32_t eflags;
	uint32_t seg[6]; /* cs ss ds es fs gs */
};

/* Breakpoint kinds of Z/z packets. */
enum gdb_break { GDB_BREAK_SW = 0, GDB_BREAK_HW = 1 };

/*
 * What the target does for the stub. Functions returning int give 0 or a negative
 * errno (replied as "E" + errno). -ENOTSUP from breakpoint means "not supported" (the
 * empty reply). Thread ids are 1 .. thread_count().
 */
struct gdb_ops {
	unsigned (*thread_count)(void *ctx);
	int (*get_regs)(void *ctx, unsigned tid, struct gdb_regs *r);
	int (*set_regs)(void *ctx, unsigned tid, const struct gdb_regs *r);
	/* Reads up to len bytes at addr; *done says how many were read before a fault. */
	int (*read_mem)(void *ctx, uint64_t addr, void *buf, size_t len, size_t *done);
	int (*write_mem)(void *ctx, uint64_t addr, const void *buf, size_t len);
	int (*breakpoint)(void *ctx, enum gdb_break type, uint64_t addr, bool insert);
	/* Lets the target run: every thread (step_tid 0), or single-steps step_tid (the
	 * others stay stopped). The target reports the next stop with gdb_stub_stopped. */
	int (*resume)(void *ctx, unsigned step_tid);
	void (*interrupt)(void *ctx); /* 0x03 or vCont;t: stop soon, report it */
	void (*detach)(void *ctx);    /* after the OK went out: breakpoints out, run freely */
	void (*kill)(void *ctx);
	void (*send)(void *ctx, const char *bytes, size_t len);
};

enum gdb_rx { GDB_RX_IDLE, GDB_RX_DATA, GDB_RX_SUM1, GDB_RX_SUM2 };

struct gdb_stub {
	const struct gdb_ops *ops;
	void *ctx;
	enum gdb_rx rx;
	size_t len;	   /* raw bytes of the packet being received */
	bool overflow;	   /* it was longer than GDB_PKT_MAX: refused */
	uint8_t sum, hi;   /* running checksum; first checksum digit */
	unsigned g_tid;	   /* thread of g/G/p/P (Hg), 0: the stopped one */
	unsigned c_tid;	   /* thread of s (Hc), 0: the stopped one */
	bool running;	   /* resumed: the next stop is reported */
	unsigned stop_tid; /* thread of the last stop */
	uint8_t stop_sig;
	uint64_t packets, bad_packets; /* good and refused (checksum, overflow) */
	char raw[GDB_PKT_MAX];
	char cmd[GDB_PKT_MAX + 1]; /* the packet with run-lengths expanded, NUL-ended */
	size_t cmd_len;
	char reply[GDB_PKT_MAX]; /* the reply's text; longer replies are cut here */
	size_t reply_len;
	char out[2 * GDB_PKT_MAX + 8]; /* framed: every character escaped at worst; kept
					* for a '-' retransmit */
	size_t out_len;
};

void gdb_stub_init(struct gdb_stub *s, const struct gdb_ops *ops, void *ctx);
/* Feeds bytes received from gdb; answers (through ops->send) and acts as they complete. */
void gdb_stub_input(struct gdb_stub *s, const char *bytes, size_t len);
/* The target stopped: thread tid with signal sig (5: SIGTRAP, 2: SIGINT). Sends the stop
 * reply if gdb is waiting for one, else keeps it for '?'. */
void gdb_stub_stopped(struct gdb_stub *s, unsigned tid, uint8_t sig);
/* The target ended: "W" + status, or "X" + signal when it was killed. */
void gdb_stub_exited(struct gdb_stub *s, uint8_t status, bool killed);

#endif
