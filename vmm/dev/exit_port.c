/*
 * The ports that end a guest:
 * - the exit port (KEEL_GUEST_EXIT_PORT, 4 ports, QEMU's isa-debug-exit with
 *   iobase=0xf4,iosize=4): a write of v ends the guest with status (v << 1) | 1, the
 *   exit status QEMU itself ends with (so 0 cannot be faked by a stray write);
 * - reset: the keyboard controller's pulse-reset command (0xFE to port 0x64) and the
 *   PIIX reset control register (port 0xCF9, bit 2 "reset CPU"): the guest is ended
 *   with a reason, as QEMU -no-reboot ends instead of rebooting;
 * - power off: PIIX4 ACPI PM1a control (port 0x604, QEMU pc's PM base 0x600 + 4),
 *   SLP_EN (bit 13): the guest exits with status 0, as QEMU powers off with 0.
 * The keyboard controller's status (port 0x64) reads "input and output buffers empty",
 * so a guest waiting to send the reset command does not wait forever.
 */
#include <uapi/keel_hypercall.h>

#include "dev.h"
#include "exit_port.h"

#define KBC_STATUS_IDLE 0x1C /* 8042 status: system flag, command, unlocked; buffers empty */
#define KBC_CMD_RESET 0xFE
#define PIIX_RC_RESET (1u << 2)
#define ACPI_PM1_SLP_EN (1u << 13)

static enum exit_action exit_port_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
					uint64_t val)
{
	return guest_exit(v->guest, (int64_t)((val << 1) | 1));
}

static enum exit_action kbc_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				 uint64_t *val)
{
	*val = KBC_STATUS_IDLE;
	return EXIT_RESUME;
}

static enum exit_action kbc_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				  uint64_t val)
{
	if ((val & 0xFF) != KBC_CMD_RESET)
		return EXIT_RESUME;
	return guest_kill(v->guest, "reset through the keyboard controller (port 0x64)");
}

static enum exit_action reset_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				    uint64_t val)
{
	if (!(val & PIIX_RC_RESET))
		return EXIT_RESUME;
	return guest_kill(v->guest, "reset through the reset control register (port 0xCF9)");
}

static enum exit_action pm_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				 uint64_t val)
{
	if (off != 4 || size < 2 || !(val & ACPI_PM1_SLP_EN))
		return EXIT_RESUME;
	return guest_exit(v->guest, 0);
}

static const struct vdev_ops exit_port_ops = { "exit port", NULL, exit_port_write };
static const struct vdev_ops kbc_ops = { "keyboard controller", kbc_read, kbc_write };
static const struct vdev_ops reset_ops = { "reset control", NULL, reset_write };
static const struct vdev_ops pm_ops = { "ACPI PM", NULL, pm_write };

int exit_port_attach(struct vdev_bus *bus)
{
	int err = vdev_register(bus, VDEV_PIO, KEEL_GUEST_EXIT_PORT, 4, &exit_port_ops, NULL);
	if (!err)
		err = vdev_register(bus, VDEV_PIO, 0x64, 1, &kbc_ops, NULL);
	if (!err)
		err = vdev_register(bus, VDEV_PIO, 0xCF9, 1, &reset_ops, NULL);
	if (!err)
		err = vdev_register(bus, VDEV_PIO, 0x600, 8, &pm_ops, NULL);
	return err;
}
