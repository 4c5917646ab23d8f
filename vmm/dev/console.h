/*
 * A guest's console: the bytes it writes (through its UART or the console hypercall),
 * printed on Keel's console a line at a time as "[name] text". Output of several vCPUs
 * interleaves by byte, as on a shared UART.
 */
#ifndef VMM_DEV_CONSOLE_H
#define VMM_DEV_CONSOLE_H

#include "../guest.h"

/* One byte: '\r' dropped, '\n' ends the line, other non-printable bytes show as '?'. */
void guest_console_put(struct guest *g, char c);
/* Prints what is buffered as a line (when the guest ends). */
void guest_console_flush(struct guest *g);

#endif
