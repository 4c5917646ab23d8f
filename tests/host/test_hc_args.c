/*
 * Host fuzz of the generic hypercall step (vmm/hypercall_args.c) on the fake arch under
 * ASan/UBSan: random argument descriptions (kinds, bounds, length arguments, fixed
 * sizes) and random register values of the shapes that break parsers, against a guest
 * space of 2 MiB demand-paged RAM. Properties:
 *   - the result is 0, -EINVAL, -EFAULT or -ENOMEM;
 *   - a number outside its bounds always gives -EINVAL;
 *   - when every number is in bounds and every buffer is non-empty RAM of at most
 *     VM_PIN_PAGES_MAX pages (or empty), the call succeeds;
 *   - on success every value is the register masked (or sign-extended) for the mode,
 *     every non-empty buffer is pinned over exactly [gpa, gpa + len), empty ones not at
 *     all, and the pins hold (a release of the space meets them);
 *   - after hc_args_release, or after any error, no pin is left (a release succeeds).
 * Usage: test_hc_args [ITERATIONS] (default 20000).
 */
#include <stdlib.h>
#include <string.h>

#include <keel/errno.h>

#include "hypercall.h"
#include "pt_test.h"

#define RAM (2ull << 20)

static struct guest G;
static uint64_t rng = 0x243F6A8885A308D3ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t value(void)
{
	static const uint64_t special[] = { 0,		1,	    4095,	  4096,
					    RAM - 1,	RAM,	    RAM + 1,	  0xFFFFFFFF,
					    1ull << 32, ~0ull,	    ~0ull - 4095, 1ull << 63,
					    2 * RAM,	0x7FFFFFFF, 512 * 4096,	  513 * 4096 };
	uint64_t r = next();
	switch (r % 5) {
	case 0:
		return special[(r >> 8) % (sizeof(special) / sizeof(special[0]))];
	case 1:
		return next();
	case 2:
		return (r >> 8) % RAM;
	case 3:
		return (r >> 8) % 8192; /* small lengths */
	default:
		return (r >> 8) % (RAM + 8192);
	}
}

static bool is_buffer(const struct hc_arg *d)
{
	return d->kind == HC_ARG_IN || d->kind == HC_ARG_OUT;
}

/* A random description; `buffers` agrees with its arguments, as the generator makes it. */
static void random_call(struct hypercall *h)
{
	memset(h, 0, sizeof(*h));
	h->name = "fuzz";
	h->arg_count = (unsigned)(next() % (HC_ARG_MAX + 1));
	for (unsigned i = 0; i < h->arg_count; i++) {
		struct hc_arg *d = &h->arg[i];
		d->kind = (enum hc_arg_kind)(next() % 5);
		d->min = (next() & 1) ? value() : 0;
		d->max = (next() & 1) ? value() : UINT64_MAX;
		d->len_arg = (unsigned)(next() % h->arg_count);
		d->size = (next() % 4 == 0) ? value() % 8192 : 0;
		h->buffers |= is_buffer(d);
	}
}

static uint64_t mode_value(const struct hc_arg *d, uint64_t raw, bool wide)
{
	if (wide)
		return raw;
	return d->kind == HC_ARG_S64 ? (uint64_t)(int64_t)(int32_t)raw : (uint32_t)raw;
}

static uint64_t pages_of(uint64_t gpa, uint64_t len)
{
	return ((gpa + len + 4095) / 4096) - gpa / 4096;
}

/* True if no pin is held anywhere in the space: releasing all RAM meets none. */
static bool no_pins(void)
{
	return vm_space_unmap_gpa(&G.space, GPA(0), RAM, VM_NOWAIT) == 0;
}

/* What the description and registers promise: -EINVAL (a number out of bounds), 0
 * (everything plainly fine), or 1 (no promise: some buffer is outside RAM, wraps or is
 * too long, and which error wins is the pin's business). */
static int promise(const struct hypercall *h, const uint64_t *raw, bool wide)
{
	uint64_t v[HC_ARG_MAX];
	for (unsigned i = 0; i < h->arg_count; i++) {
		v[i] = mode_value(&h->arg[i], raw[i], wide);
		if (h->arg[i].kind == HC_ARG_U64 && (v[i] < h->arg[i].min || v[i] > h->arg[i].max))
			return -EINVAL;
	}
	for (unsigned i = 0; i < h->arg_count; i++) {
		const struct hc_arg *d = &h->arg[i];
		uint64_t len = d->size ? d->size : v[d->len_arg];
		if (!is_buffer(d) || !len)
			continue;
		if (v[i] >= RAM || len > RAM - v[i] || pages_of(v[i], len) > VM_PIN_PAGES_MAX)
			return 1;
	}
	return 0;
}

/* Checks a successful unpack against the registers; holds the pins while it looks. */
static bool unpacked_right(const struct hypercall *h, const uint64_t *raw, bool wide,
			   const struct hc_args *a)
{
	bool any_pin = false;
	for (unsigned i = 0; i < h->arg_count; i++) {
		const struct hc_arg *d = &h->arg[i];
		uint64_t v = mode_value(d, raw[i], wide);
		if (a->val[i] != v || a->gpa[i].v != v)
			return false;
		if (!is_buffer(d)) {
			if (a->pinned[i])
				return false;
			continue;
		}
		uint64_t len = d->size ? d->size : a->val[d->len_arg];
		if (a->pinned[i] != (len != 0))
			return false;
		if (len && (a->pin[i].len != len || a->pin[i].page_count != pages_of(v, len)))
			return false;
		any_pin |= len != 0;
	}
	/* Pins hold: a release of all RAM meets them (and changes nothing). */
	return !any_pin || vm_space_unmap_gpa(&G.space, GPA(0), RAM, VM_NOWAIT) == -EBUSY;
}

static unsigned iterations = 20000;

static void t_fuzz(const void *arg)
{
	(void)arg;
	unsigned ok = 0;
	memset(&G, 0, sizeof(G));
	G.mem = RAM;
	CHECK(vm_space_init(&G.space, VM_SPACE_GUEST_EPT, 0) == 0);
	CHECK(vm_space_add_demand_region_gpa(&G.space, GPA(0), RAM, PT_PROP(PT_PROP_RWX)) == 0);
	for (unsigned n = 0; n < iterations; n++) {
		struct hypercall h;
		struct hc_args a;
		random_call(&h);
		uint64_t raw[HC_ARG_MAX] = { value(), value(), value() };
		bool wide = next() & 1;
		int want = promise(&h, raw, wide);
		int err = hc_args_unpack(&G, &h, raw, wide, &a);
		T_ASSERT(err == 0 || err == -EINVAL || err == -EFAULT || err == -ENOMEM);
		if (want <= 0)
			T_EQ(err, want);
		if (!err) {
			T_ASSERT(unpacked_right(&h, raw, wide, &a));
			hc_args_release(&h, &a);
			ok++;
		}
		if (!no_pins())
			break;
	}
	bool clean = no_pins();
	vm_space_fini(&G.space);
	T_ASSERT(clean);		/* no pin left after any call */
	T_ASSERT(ok > iterations / 20); /* the generator reaches the success path often */
}

static void t_frames_back(const void *arg)
{
	T_EQ(fake_frames_in_use(), *(const uint64_t *)arg);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		iterations = (unsigned)strtoul(argv[1], NULL, 0);
	fake_arch_init();
	uint64_t frames_before = fake_frames_in_use();
	tap_run("hc_args_unpack_random_descriptions_and_registers", t_fuzz, NULL);
	tap_run("every_frame_returned", t_frames_back, &frames_before);
	return tap_finish();
}
