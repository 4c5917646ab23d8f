# The Ctrl-C check of make test (scripts/debug-test.sh): the guest spin (an endless
# loop) runs under gdb until debug-guest.sh --interrupt sends gdb SIGINT (as Ctrl-C
# does); the stub must stop it, then gdb kills it. See debug-session.gdb for the form.
set pagination off
set confirm off
target remote localhost:@PORT@
shell touch @MARK@
continue
printf "CHECK interrupted_pc=%#lx\n", $pc
info threads
echo CHECK done\n
kill
