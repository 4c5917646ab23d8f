/*
 * The string functions a freestanding compiler may call on its own (memset, memcpy
 * for struct copies and initialisers) and the two printf needs. memset and memcpy are
 * REP STOSB/MOVSB so that the compiler cannot turn their loops back into calls.
 */
#include "keel_guest.h"

void *memset(void *dst, int c, size_t len)
{
	void *d = dst;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(len) : "a"(c) : "memory");
	return dst;
}

void *memcpy(void *dst, const void *src, size_t len)
{
	void *d = dst;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(len) : : "memory");
	return dst;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	for (; *a && *a == *b; a++, b++)
		;
	return (unsigned char)*a - (unsigned char)*b;
}
