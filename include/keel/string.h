/* The few libc string functions the kernel has (kernel/lib). Host builds use libc's. */
#ifndef KEEL_STRING_H
#define KEEL_STRING_H

#ifdef KEEL_HOST
#include <string.h>
#else
#include <keel/types.h>
void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
#endif

#endif
