/*
 * The device model: emulated devices are registered on a guest's bus by address range,
 * in one of two address spaces (port I/O, guest-physical MMIO), and reached through one
 * dispatcher. Each device is one file in vmm/dev/ with a `*_attach` function that
 * registers its ranges; platform.c says which devices a guest gets.
 *
 * An access is (offset into the device's range, size 1/2/4/8 bytes). A read stores the
 * value in *val (the dispatcher masks it to size); a write passes it in val. Handlers
 * run on the CPU handling the vCPU's exit, with interrupts on and no lock held; they may
 * end the guest (guest_exit/guest_kill: EXIT_STOP). A range claims an access by its
 * first byte.
 *
 * Port I/O is dispatched by exit_io.c; MMIO by exit_mmio.c, which decodes the guest's
 * instruction (decode.h) at an EPT violation in a registered range and makes one access
 * per memory operand (a device sees its offset and the instruction's width, aligned or
 * not: each device decides what a width it does not support does).
 */
#ifndef VMM_DEV_DEV_H
#define VMM_DEV_DEV_H

#include "../guest.h"

enum vdev_space { VDEV_PIO, VDEV_MMIO };

struct vdev_ops {
	const char *name;
	/* NULL read: reads give all ones; NULL write: writes are ignored. */
	enum exit_action (*read)(struct vcpu *v, void *state, uint64_t off, unsigned size,
				 uint64_t *val);
	enum exit_action (*write)(struct vcpu *v, void *state, uint64_t off, unsigned size,
				  uint64_t val);
};

struct vdev_range {
	enum vdev_space space;
	uint64_t base, len;
	const struct vdev_ops *ops;
	void *state; /* the device's, kmalloc'd or NULL; freed with the bus */
	bool shared; /* state belongs to another range of the same device */
};

#define VDEV_RANGE_MAX 32
#define VDEV_UNCLAIMED_MAX 8

/* Accesses to ports no device claims, by port (the first VDEV_UNCLAIMED_MAX ports
 * seen; later ones only in other). [a] */
struct vdev_unclaimed {
	uint32_t port[VDEV_UNCLAIMED_MAX]; /* port + 1; 0: free slot */
	uint64_t count[VDEV_UNCLAIMED_MAX];
	uint64_t other;
};

/* [c] filled while the guest is built, read-only once it runs; unclaimed [a]. */
struct vdev_bus {
	unsigned count;
	struct vdev_range range[VDEV_RANGE_MAX];
	struct vdev_unclaimed unclaimed;
	uint64_t mmio_exits[VDEV_RANGE_MAX]; /* [a] instructions emulated per MMIO range */
};

/* An empty bus, or NULL (out of memory). */
struct vdev_bus *vdev_bus_create(void);
/* Frees the bus and every device state on it. */
void vdev_bus_destroy(struct vdev_bus *bus);

/*
 * Registers [base, base + len) of space for ops, with state (kmalloc'd or NULL; the bus
 * owns it from here, even on failure). Returns 0, -EINVAL (empty or wrapping range, a
 * port range above 0xFFFF), -EEXIST (overlaps a registered range) or -ENOSPC.
 */
int vdev_register(struct vdev_bus *bus, enum vdev_space space, uint64_t base, uint64_t len,
		  const struct vdev_ops *ops, void *state) __must_check;
/* vdev_register for a second range of a device whose state an earlier range owns. */
int vdev_register_shared(struct vdev_bus *bus, enum vdev_space space, uint64_t base, uint64_t len,
			 const struct vdev_ops *ops, void *state) __must_check;

/* The range whose device claims addr, or NULL. */
const struct vdev_range *vdev_find(const struct vdev_bus *bus, enum vdev_space space,
				   uint64_t addr);

/*
 * Dispatches an access by v to the device claiming addr. Returns true with *action set
 * if a device claimed it (a read's *val masked to size bytes), false if none did (the
 * caller decides: unclaimed ports read all ones).
 */
bool vdev_access(struct vcpu *v, enum vdev_space space, uint64_t addr, unsigned size, bool write,
		 uint64_t *val, enum exit_action *action);

/* Counts an access to a port no device claims (exit statistics). Any CPU. */
void vdev_note_unclaimed(struct vdev_bus *bus, unsigned port);
/* "0x60=3, 0x2f8=1, other=2" into buf (empty if none). */
void vdev_unclaimed_str(const struct vdev_bus *bus, char *buf, size_t len);
/* Counts one emulated MMIO instruction for r's device (exit statistics). */
void vdev_count_mmio(struct vdev_bus *bus, const struct vdev_range *r);
/* "name=N, ..." of the MMIO devices that saw exits, into buf; returns the length. */
int vdev_mmio_stats(const struct vdev_bus *bus, char *buf, size_t len);

/* All ones of size bytes (1, 2, 4 or 8). */
uint64_t vdev_size_mask(unsigned size);

#endif
