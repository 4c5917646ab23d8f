/*
 * The Keel hypercall ABI, shared by the hypervisor (vmm/) and guests (guest/).
 * A guest executes VMCALL with rax = hypercall number and arguments in rdi, rsi, rdx;
 * on return rax holds the result: >= 0 on success, a negative errno (Linux values,
 * include/keel/errno.h) on failure. Other registers are preserved.
 * 32-bit and real-mode guests: only eax, edi, esi, edx are used (buffer addresses are
 * 32-bit guest-physical addresses).
 * Guest-physical buffers are checked by the hypervisor: a buffer outside guest RAM
 * returns -EFAULT (14), never ends the guest.
 * Usable from C and from NASM (only #define lines).
 */
#ifndef KEEL_UAPI_HYPERCALL_H
#define KEEL_UAPI_HYPERCALL_H

#define KEEL_HC_CONSOLE_WRITE 0 /* rdi = gpa of bytes, rsi = length (<= 4096); -> bytes written */
#define KEEL_HC_EXIT 1		/* rdi = status; the guest ends, does not return */
#define KEEL_HC_NOP 2		/* -> 0; for measuring round trips */
#define KEEL_HC_GUEST_PAGES 3	/* -> pages of guest RAM populated so far (demand-paged) */
#define KEEL_HC_VCPU_INFO 4	/* -> the calling vCPU's index (0 .. vcpus - 1) */
/* rdi = delay in microseconds (0 cancels), rsi = vector (32..255): one-shot timer of the
 * calling vCPU. When it expires the vCPU gets an external interrupt with that vector, as
 * soon as RFLAGS.IF = 1 and nothing blocks it; HLT with IF = 1 waits for it. -> 0, or
 * -EINVAL for a bad vector or a delay over 60 s. */
#define KEEL_HC_TIMER_SET 5
/* rdi = gpa, rsi = length, both 4 KiB-aligned, inside guest RAM: gives those pages back.
 * Their contents are gone; a later touch maps fresh zeroed pages (counted again by
 * KEEL_HC_GUEST_PAGES). Returns once no vCPU can still reach the old pages. While a
 * hypercall of another vCPU uses one of them, the caller waits (its VMCALL is retried;
 * the CPU runs other vCPUs meanwhile). -> 0, -EINVAL (unaligned, empty, outside RAM) or
 * -ENOMEM. */
#define KEEL_HC_MEM_RELEASE 6
#define KEEL_HC_COUNT 7

#define KEEL_HC_CONSOLE_MAX 4096

/* CPUID leaf 0x40000000: eax = highest Keel leaf, ebx/ecx/edx = "KeelKeelKeel". */
#define KEEL_CPUID_LEAF 0x40000000

/* Emulated devices: a 16550 UART (transmit only) and the debug-exit port. */
#define KEEL_GUEST_UART 0x3F8
#define KEEL_GUEST_EXIT_PORT 0xF4 /* out: the guest ends with the written value as status */

#endif
