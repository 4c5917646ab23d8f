/* Waiting for another vCPU of the same guest (keel_guest.h). */
#include "keel_guest.h"

bool wait_flag(const unsigned *flag, unsigned spins)
{
	for (unsigned i = 0; i < spins; i++) {
		if (__atomic_load_n(flag, __ATOMIC_ACQUIRE))
			return true;
		cpu_pause();
	}
	return false;
}
