/*
 * Kernel heap: kmalloc/kzalloc/kfree for kernel-private objects (kernel/heap.c).
 * Requests up to HEAP_SLAB_MAX bytes come from per-size-class slabs (one frame each);
 * larger ones are whole frame blocks (2^order frames) from the frame allocator.
 * Every pointer returned is at least HEAP_ALIGN aligned (blocks are page aligned).
 * Safe with interrupts disabled; never sleeps. Not for guest or user memory.
 */
#ifndef KEEL_HEAP_H
#define KEEL_HEAP_H

#include <keel/compiler.h>

#define HEAP_ALIGN 16
#define HEAP_SLAB_MIN 16   /* smallest size class */
#define HEAP_SLAB_MAX 2048 /* largest size class; above this, whole frames */

/*
 * Returns size bytes of uninitialised kernel memory, or NULL when memory is
 * exhausted or size is beyond the largest frame block. kmalloc(0) returns a
 * minimal object (freeable, not to be dereferenced).
 */
void *kmalloc(size_t size) __must_check;
/* kmalloc, then the first size bytes are zero. */
void *kzalloc(size_t size) __must_check;
/*
 * Returns ptr, which kmalloc/kzalloc/krealloc handed out, to the heap. kfree(NULL)
 * does nothing. CHECKs what is cheap to detect: a pointer the heap did not hand out
 * (not heap memory, inside an object, inside a large block) and double frees.
 */
void kfree(const void *ptr);
/*
 * Resizes ptr to at least size bytes, keeping its contents up to the smaller size.
 * ptr NULL: kmalloc(size). size 0: kfree(ptr), returns NULL. On failure returns
 * NULL and ptr is untouched.
 */
void *krealloc(void *ptr, size_t size) __must_check;
/* Start-up hook (after frame_init): the heap needs no set-up, this only reports. */
void heap_init(void);
/* Bytes usable at ptr (its size class or its block size), >= the size asked for. */
size_t kmalloc_usable_size(const void *ptr);

#endif
