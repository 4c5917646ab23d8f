# The scripted gdb session of make test (scripts/debug-test.sh), against the guest
# gdbme (guest/gdbme.c) stopped by Keel before its first instruction. Every check
# prints a "CHECK name=value" line (or names a function through "info symbol") that
# debug-test.sh compares; a failing command ends the script early, so "CHECK done" is
# missing then. The guest is built with -O2 (its two functions unoptimised), so gdb
# stops at a function's first instruction: "next" runs its prologue first.
set pagination off
set confirm off
target remote localhost:@PORT@
printf "CHECK start_pc=%#lx\n", $pc
info threads
hbreak guest_main
continue
info symbol $pc
delete
break gdb_stop_here
continue
info symbol $pc
next
next
printf "CHECK local=%d\n", local
step
info symbol $pc
next
printf "CHECK x=%d\n", x
bt
set var poke = 0x600dcafe
printf "CHECK poke=%#x\n", poke
set $before = $pc
stepi
printf "CHECK stepi_moved=%d\n", $pc != $before
x/2i $pc
info registers rip rsp eflags cs ss
delete
detach
echo CHECK done\n
