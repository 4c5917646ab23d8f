/*
 * VM-exit handling: the table of one small handler per basic exit reason and the
 * dispatcher that runs after every exit (exit.c). The handlers themselves are declared
 * in exit_handlers.h and live with their family.
 */
#ifndef VMM_EXIT_H
#define VMM_EXIT_H

#include "guest.h"

typedef enum exit_action (*exit_handler_fn)(struct vcpu *v);

/* The dispatch table: NULL for reasons Keel does not handle. */
extern const exit_handler_fn vmx_exit_handlers[EXIT_REASON_COUNT];

/*
 * Handles the exit v just took on this CPU: records it, re-injects an event the exit
 * cut short, runs the reason's handler. Unhandled reasons and failed entries end the
 * guest with a reason (EXIT_STOP).
 */
enum exit_action vmx_exit_dispatch(struct vcpu *v);
/* Ends the guest after VMLAUNCH/VMRESUME failed with rc (vmx_enter's 1 or 2). */
void vmx_entry_failed(struct vcpu *v, int rc);

#endif
