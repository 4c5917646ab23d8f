/*
 * The device bus (dev.h): registration by range and the one dispatcher for port I/O
 * and MMIO accesses. Knows no device; devices know nothing of each other.
 */
#include <keel/errno.h>
#include <keel/heap.h>
#include <keel/printk.h>

#include "dev.h"

struct vdev_bus *vdev_bus_create(void)
{
	return kzalloc(sizeof(struct vdev_bus));
}

void vdev_bus_destroy(struct vdev_bus *bus)
{
	if (!bus)
		return;
	for (unsigned i = 0; i < bus->count; i++)
		if (!bus->range[i].shared)
			kfree(bus->range[i].state);
	kfree(bus);
}

static bool ranges_overlap(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
	return a < b + b_len && b < a + a_len;
}

static int vdev_add(struct vdev_bus *bus, enum vdev_space space, uint64_t base, uint64_t len,
		    const struct vdev_ops *ops, void *state, bool shared)
{
	int err = 0;
	if (!len || base + len < base || (space == VDEV_PIO && base + len > 0x10000))
		err = -EINVAL;
	for (unsigned i = 0; !err && i < bus->count; i++) {
		const struct vdev_range *r = &bus->range[i];
		if (r->space == space && ranges_overlap(base, len, r->base, r->len))
			err = -EEXIST;
	}
	if (!err && bus->count == VDEV_RANGE_MAX)
		err = -ENOSPC;
	if (err) {
		if (!shared)
			kfree(state);
		return err;
	}
	bus->range[bus->count++] = (struct vdev_range){ space, base, len, ops, state, shared };
	return 0;
}

int vdev_register(struct vdev_bus *bus, enum vdev_space space, uint64_t base, uint64_t len,
		  const struct vdev_ops *ops, void *state)
{
	return vdev_add(bus, space, base, len, ops, state, false);
}

int vdev_register_shared(struct vdev_bus *bus, enum vdev_space space, uint64_t base, uint64_t len,
			 const struct vdev_ops *ops, void *state)
{
	return vdev_add(bus, space, base, len, ops, state, true);
}

void vdev_note_unclaimed(struct vdev_bus *bus, unsigned port)
{
	struct vdev_unclaimed *u = &bus->unclaimed;
	for (unsigned i = 0; i < VDEV_UNCLAIMED_MAX; i++) {
		uint32_t seen = __atomic_load_n(&u->port[i], __ATOMIC_RELAXED), mine = port + 1;
		if (!seen && __atomic_compare_exchange_n(&u->port[i], &seen, mine, false,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			seen = mine;
		if (seen == mine) {
			__atomic_fetch_add(&u->count[i], 1, __ATOMIC_RELAXED);
			return;
		}
	}
	__atomic_fetch_add(&u->other, 1, __ATOMIC_RELAXED);
}

void vdev_unclaimed_str(const struct vdev_bus *bus, char *buf, size_t len)
{
	const struct vdev_unclaimed *u = &bus->unclaimed;
	int n = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < VDEV_UNCLAIMED_MAX && u->port[i] && n < (int)len - 32; i++)
		n += snprintf(buf + n, len - (size_t)n, "%s0x%x=%llu", n ? ", " : "",
			      u->port[i] - 1, (unsigned long long)u->count[i]);
	if (u->other && n < (int)len - 32)
		snprintf(buf + n, len - (size_t)n, "%sother=%llu", n ? ", " : "",
			 (unsigned long long)u->other);
}

const struct vdev_range *vdev_find(const struct vdev_bus *bus, enum vdev_space space, uint64_t addr)
{
	for (unsigned i = 0; i < bus->count; i++) {
		const struct vdev_range *r = &bus->range[i];
		if (r->space == space && addr >= r->base && addr - r->base < r->len)
			return r;
	}
	return NULL;
}

uint64_t vdev_size_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

bool vdev_access(struct vcpu *v, enum vdev_space space, uint64_t addr, unsigned size, bool write,
		 uint64_t *val, enum exit_action *action)
{
	const struct vdev_range *r = vdev_find(v->guest->devices, space, addr);
	if (!r)
		return false;
	uint64_t off = addr - r->base, mask = vdev_size_mask(size);
	*action = EXIT_RESUME;
	if (write) {
		if (r->ops->write)
			*action = r->ops->write(v, r->state, off, size, *val & mask);
	} else {
		*val = mask;
		if (r->ops->read)
			*action = r->ops->read(v, r->state, off, size, val);
		*val &= mask;
	}
	return true;
}

void vdev_count_mmio(struct vdev_bus *bus, const struct vdev_range *r)
{
	__atomic_fetch_add(&bus->mmio_exits[r - bus->range], 1, __ATOMIC_RELAXED);
}

int vdev_mmio_stats(const struct vdev_bus *bus, char *buf, size_t len)
{
	int n = 0;
	buf[0] = '\0';
	for (unsigned i = 0; bus && i < bus->count; i++) {
		uint64_t c = __atomic_load_n(&bus->mmio_exits[i], __ATOMIC_RELAXED);
		if (c && n < (int)len - 40)
			n += snprintf(buf + n, len - (size_t)n, "%s%s=%llu", n ? ", " : "",
				      bus->range[i].ops->name, (unsigned long long)c);
	}
	return n;
}
