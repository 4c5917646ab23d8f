# The third session of make test (scripts/debug-test.sh): the guest selfdebug (a flat
# image, no symbols) takes its own INT3s and TF single-step trap while gdb holds a
# hardware breakpoint (so Keel intercepts both #BP and #DB): Keel must deliver them to
# the guest, which then exits 0, and gdb must hear of the exit.
set pagination off
set confirm off
target remote localhost:@PORT@
hbreak *0x1ff000
continue
echo CHECK done\n
