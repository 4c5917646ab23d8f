/*
 * The local APIC model (SDM Vol 3A chapter 11): one per vCPU, pure. Registers, the
 * 256-bit IRR/ISR/TMR, priority (TPR/PPR, 11.8.3.1), EOI, the timer in one-shot,
 * periodic and TSC-deadline modes (11.5.4), ICR decoding (11.6.1) and destination
 * matching (11.6.2), in xAPIC and x2APIC (11.12) form. It knows no VMCS, no vCPU and
 * no clock: time comes in as `now`, in TSC cycles, so the host tests drive it with a
 * fake clock (tests/host/test_lapic.c). dev/vlapic.c attaches it to a vCPU.
 *
 * Registers are named by their xAPIC offset >> 4 (0x02 ID, 0x08 TPR, ...), which is
 * also the x2APIC MSR number - 0x800 (11.12.1.2).
 *
 * The timer counts at the TSC rate divided by the divide configuration (so the "bus
 * clock" of 11.5.4 is the TSC clock); a periodic timer whose periods were missed
 * (the vCPU did not run) fires once for all of them, as coalesced interrupts would.
 *
 * Lock legend: [o] the CPU running the vCPU; [a] atomic: other vCPUs post interrupts
 * (lapic_accept) and events into it while it runs elsewhere.
 */
#ifndef VMM_DEV_LAPIC_H
#define VMM_DEV_LAPIC_H

#include <keel/compiler.h>
#include <keel/types.h>

#define LAPIC_BASE_DEFAULT 0xFEE00000ull
/* Version register: version 0x14 (integrated), max LVT entry 5 (6 LVTs, no CMCI). */
#define LAPIC_VERSION 0x00050014u

/* Registers (xAPIC offset >> 4; x2APIC MSR - 0x800). SDM Vol 3A table 11-1, 11-6. */
enum lapic_reg {
	LAPIC_ID = 0x02,
	LAPIC_VER = 0x03,
	LAPIC_TPR = 0x08,
	LAPIC_APR = 0x09,
	LAPIC_PPR = 0x0A,
	LAPIC_EOI = 0x0B,
	LAPIC_RRD = 0x0C,
	LAPIC_LDR = 0x0D,
	LAPIC_DFR = 0x0E,
	LAPIC_SVR = 0x0F,
	LAPIC_ISR0 = 0x10,
	LAPIC_TMR0 = 0x18,
	LAPIC_IRR0 = 0x20,
	LAPIC_ESR = 0x28,
	LAPIC_ICR = 0x30,
	LAPIC_ICR_HIGH = 0x31,
	LAPIC_LVT_TIMER = 0x32,
	LAPIC_LVT_THERMAL = 0x33,
	LAPIC_LVT_PERF = 0x34,
	LAPIC_LVT_LINT0 = 0x35,
	LAPIC_LVT_LINT1 = 0x36,
	LAPIC_LVT_ERROR = 0x37,
	LAPIC_TIMER_INIT = 0x38,
	LAPIC_TIMER_CUR = 0x39,
	LAPIC_TIMER_DCR = 0x3E,
	LAPIC_SELF_IPI = 0x3F,
	LAPIC_REG_COUNT = 0x40,
};
#define LAPIC_LVT_COUNT 6 /* timer, thermal, perf, LINT0, LINT1, error */

#define LAPIC_LVT_MASKED (1u << 16)
#define LAPIC_SVR_ENABLE (1u << 8)
/* LVT timer mode, bits 18:17 (11.5.4 figure 11-8). */
enum lapic_timer_mode { LAPIC_TIMER_ONESHOT, LAPIC_TIMER_PERIODIC, LAPIC_TIMER_TSC_DEADLINE };
/* ESR bits (11.5.3 figure 11-9). */
#define LAPIC_ESR_SEND_ILLEGAL (1u << 5)
#define LAPIC_ESR_RECV_ILLEGAL (1u << 6)
#define LAPIC_ESR_ILLEGAL_REG (1u << 7)

/* ICR delivery modes (11.6.1 figure 11-12) and destination shorthands. */
enum lapic_dm {
	LAPIC_DM_FIXED = 0,
	LAPIC_DM_LOWEST = 1,
	LAPIC_DM_SMI = 2,
	LAPIC_DM_NMI = 4,
	LAPIC_DM_INIT = 5,
	LAPIC_DM_SIPI = 6,
	LAPIC_DM_EXTINT = 7,
};
enum lapic_shorthand { LAPIC_SH_NONE, LAPIC_SH_SELF, LAPIC_SH_ALL, LAPIC_SH_OTHERS };

/* An IPI as the ICR describes it. */
struct lapic_ipi {
	uint8_t vector;
	enum lapic_dm mode;
	bool logical;  /* destination mode: logical (else physical) */
	bool level;    /* level: assert (INIT with level 0 is the obsolete de-assert) */
	bool trig_lvl; /* trigger mode: level (else edge) */
	enum lapic_shorthand shorthand;
	uint32_t dest; /* x2APIC: 32 bits; xAPIC: 8 bits */
	bool x2apic;   /* decoded in x2APIC form (broadcast = 0xFFFFFFFF) */
};

struct lapic {
	uint32_t id;	 /* [o] APIC ID (xAPIC: the ID register holds it in bits 31:24) */
	bool x2apic;	 /* [o] IA32_APIC_BASE.EXTD */
	bool hw_enabled; /* [o] IA32_APIC_BASE.EN (global enable, 11.4.3) */
	uint32_t tpr, ldr, dfr, svr;
	uint32_t esr, esr_pending; /* [o] readable ESR; errors since the last ESR write */
	uint32_t icr_low, icr_high;
	uint32_t lvt[LAPIC_LVT_COUNT];
	uint32_t isr[8];	 /* [o] */
	uint32_t irr[8], tmr[8]; /* [a] set by senders, cleared by the owner */
	uint32_t irr_count;	 /* [a] vectors in irr (counted after set, before clear) */
	uint32_t timer_initial, timer_dcr;
	uint64_t timer_start;  /* [o] TSC at which the current count was initial_count */
	uint64_t timer_next;   /* [o] TSC of the next expiry, 0: not armed */
	uint64_t tsc_deadline; /* [o] IA32_TSC_DEADLINE as written (0: disarmed) */
	uint64_t timer_fires;  /* [o] expiries so far (statistics) */
};

/* A new APIC with this ID, hardware-enabled in xAPIC mode, in its reset state. */
void lapic_init(struct lapic *l, uint32_t id);
/* INIT/power-up state of everything but the ID and IA32_APIC_BASE (11.4.7.1): IRR,
 * ISR, TMR, ICR, LDR, TPR, timer cleared; DFR all ones; LVTs masked; SVR 0xFF (the
 * APIC software-disabled). */
void lapic_reset(struct lapic *l);
/* SVR.8: the APIC is software-enabled (11.4.7.2). */
bool lapic_sw_enabled(const struct lapic *l);

/*
 * Reads register reg at time now into *val (64 bits only for the x2APIC ICR). Returns
 * 0, or -EINVAL for a reserved or write-only register (the xAPIC page reads those as
 * 0; an x2APIC RDMSR of them is a #GP, 11.12.1.2).
 */
int lapic_read(const struct lapic *l, unsigned reg, uint64_t now, uint64_t *val) __must_check;

#define LAPIC_WRITE_IPI 1 /* lapic_write: the ICR was written, send lapic_icr_ipi(l) */
/*
 * Writes val to register reg at time now: EOI (11.8.5), TPR, LDR/DFR, SVR (clearing
 * SVR.8 masks every LVT), ESR (latches the errors), the LVTs (read-only bits kept;
 * masked while software-disabled), timer initial count (starts or stops the timer)
 * and divide configuration, the x2APIC SELF IPI. Returns 0, LAPIC_WRITE_IPI for an ICR
 * write that sends, or -EINVAL: a read-only or reserved register, or, in x2APIC mode, a
 * value with reserved bits set (a #GP for WRMSR; the xAPIC page ignores the write).
 */
int lapic_write(struct lapic *l, unsigned reg, uint64_t val, uint64_t now) __must_check;

/* The IPI the ICR describes now. */
struct lapic_ipi lapic_icr_ipi(const struct lapic *l);
/* Decodes ICR contents (low: bits 31:0; high: xAPIC ICR[63:32] or x2APIC bits 63:32). */
struct lapic_ipi lapic_icr_decode(uint32_t low, uint32_t high, bool x2apic);
/* True if l is named by ipi's destination field (shorthands are the sender's business):
 * physical ID or broadcast, logical flat/cluster (11.6.2.2) or x2APIC cluster
 * (11.12.10.2). */
bool lapic_matches_dest(const struct lapic *l, const struct lapic_ipi *ipi);

/*
 * Posts an interrupt (any CPU, atomically): sets IRR (and TMR for level triggered).
 * Vectors 0-15 are illegal: refused, ESR "receive illegal vector" (11.5.3). Returns
 * true if posted. A software-disabled APIC accepts none (11.4.7.2).
 */
bool lapic_accept(struct lapic *l, unsigned vector, bool level);
/* PPR from TPR and the highest in-service vector (11.8.3.1). */
uint32_t lapic_ppr(const struct lapic *l);
/* The highest IRR vector whose priority class is above PPR's, or -1 (11.8.4). */
int lapic_pending(const struct lapic *l);
/* No vector in IRR: the cheap test made before every VM entry. */
static inline bool lapic_irr_empty(const struct lapic *l)
{
	return !__atomic_load_n(&l->irr_count, __ATOMIC_SEQ_CST);
}
/* The CPU took vector (injected): IRR -> ISR (11.8.4). */
void lapic_ack(struct lapic *l, unsigned vector);

/* At time now: a due timer sets its LVT vector in IRR (unless masked) and, periodic,
 * re-arms. Returns true if it expired. */
bool lapic_timer_poll(struct lapic *l, uint64_t now);
/* TSC of the next timer expiry, or 0. */
static inline uint64_t lapic_timer_next(const struct lapic *l)
{
	return l->timer_next;
}
/* The next expiry worth an exit: 0 while the timer's vector still waits in IRR (an
 * expiry then only merges with it), so a timer faster than the guest takes its
 * interrupts cannot keep the vCPU from running. */
static inline uint64_t lapic_timer_wake(const struct lapic *l)
{
	if (!l->timer_next)
		return 0;
	unsigned v = l->lvt[0] & 0xFF;
	bool waiting = (__atomic_load_n(&l->irr[v / 32], __ATOMIC_SEQ_CST) >> (v % 32)) & 1;
	return waiting ? 0 : l->timer_next;
}
/* IA32_TSC_DEADLINE (11.5.4.1): writes arm (or, 0, disarm) only in TSC-deadline mode
 * and are ignored otherwise; reads give 0 outside that mode. */
void lapic_tsc_deadline_write(struct lapic *l, uint64_t val);
uint64_t lapic_tsc_deadline_read(const struct lapic *l);

#endif
