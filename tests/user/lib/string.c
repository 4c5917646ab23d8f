/* String functions for user programs beyond guest/lib/string.c's (memset, memcpy,
 * strlen, strcmp: the runtime links that file as it is). */
#include "keel_user.h"

int memcmp(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < len; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

long user_atol(const char *s)
{
	long v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return v;
}
