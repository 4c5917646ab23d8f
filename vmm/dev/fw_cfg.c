/*
 * QEMU's fw_cfg device through its traditional port interface (QEMU docs/specs/fw_cfg):
 * a 16-bit write to the selector port (0x510) picks an item and rewinds it; each byte
 * read from the data port (0x511) is the item's next byte, 0 past its end or for an
 * item Keel does not have. Items: signature "QEMU" (0x00), interface ID 1 = traditional
 * only, no DMA (0x01), a zero UUID (0x02), RAM_SIZE (0x03, 64-bit), NB_CPUS (0x05) and
 * MAX_CPUS (0x0f, both 16-bit: the guest's vCPUs), an empty file directory (0x19, its
 * big-endian count). Multi-byte fields are little-endian but the directory's.
 */
#include <keel/heap.h>

#include "fw_cfg.h"

enum {
	FW_CFG_SIGNATURE = 0x00,
	FW_CFG_ID = 0x01,
	FW_CFG_UUID = 0x02,
	FW_CFG_RAM_SIZE = 0x03,
	FW_CFG_NB_CPUS = 0x05,
	FW_CFG_MAX_CPUS = 0x0f,
	FW_CFG_FILE_DIR = 0x19,
};

/* [c] mem, cpus; [a] key, off: relaxed, the vCPUs' interleaving is the guest's race. */
struct fw_cfg {
	uint64_t mem;
	uint16_t cpus;
	uint16_t key;
	uint32_t off;
};

/* Byte off of item key (0 past its end or for an unknown item). */
static uint8_t fw_cfg_byte(const struct fw_cfg *f, uint16_t key, uint32_t off)
{
	uint64_t v;
	unsigned len;
	switch (key) {
	case FW_CFG_SIGNATURE:
		return off < 4 ? (uint8_t) "QEMU"[off] : 0;
	case FW_CFG_ID:
		v = 1, len = 4;
		break;
	case FW_CFG_RAM_SIZE:
		v = f->mem, len = 8;
		break;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		v = f->cpus, len = 2;
		break;
	default: /* UUID (16 zero bytes), FILE_DIR (count 0), unknown items */
		return 0;
	}
	return off < len ? (uint8_t)(v >> (8 * off)) : 0;
}

static enum exit_action fw_cfg_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				    uint64_t *val)
{
	struct fw_cfg *f = state;
	if (off != FW_CFG_PORT_DATA - FW_CFG_PORT_SEL)
		return EXIT_RESUME; /* the selector port reads as no device */
	uint16_t key = __atomic_load_n(&f->key, __ATOMIC_RELAXED);
	uint64_t out = 0;
	for (unsigned i = 0; i < size; i++) {
		uint32_t at = __atomic_fetch_add(&f->off, 1, __ATOMIC_RELAXED);
		out |= (uint64_t)fw_cfg_byte(f, key, at) << (8 * i);
	}
	*val = out;
	return EXIT_RESUME;
}

static enum exit_action fw_cfg_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				     uint64_t val)
{
	struct fw_cfg *f = state;
	if (off != 0)
		return EXIT_RESUME; /* data writes: not supported by QEMU either (since 2.4) */
	__atomic_store_n(&f->key, (uint16_t)val, __ATOMIC_RELAXED);
	__atomic_store_n(&f->off, 0, __ATOMIC_RELAXED);
	return EXIT_RESUME;
}

static const struct vdev_ops fw_cfg_ops = { "fw_cfg", fw_cfg_read, fw_cfg_write };

int fw_cfg_attach(struct guest *g, struct vdev_bus *bus)
{
	struct fw_cfg *f = kzalloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->mem = g->mem;
	f->cpus = (uint16_t)g->vcpu_count;
	return vdev_register(bus, VDEV_PIO, FW_CFG_PORT_SEL, 2, &fw_cfg_ops, f);
}
