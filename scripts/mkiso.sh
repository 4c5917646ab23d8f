#!/usr/bin/env bash
# Builds a GRUB (i386-pc, BIOS) rescue ISO that boots a Multiboot v1 kernel at once:
# no menu, no gfxterm, GRUB's own output stays on the VGA console so the serial port
# carries only the kernel's log.
#
#   mkiso.sh KERNEL OUT.iso [--cmdline "k=v ..."] [--module PATH[:NAME]]...
#
# Command line and module strings are made to match what QEMU -kernel/-initrd produce
# when run-qemu.sh runs: the kernel sees "keel.elf k=v ..." and each module string is
# exactly NAME (default: the file's basename).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

kernel=""
out=""
cmdline=""
modules=()
while [ $# -gt 0 ]; do
	case "$1" in
	--cmdline) need_arg "$1" $#; cmdline=$2; shift 2 ;;
	--module) need_arg "$1" $#; modules+=("$2"); shift 2 ;;
	-h | --help) usage ;;
	-*) die "unknown option $1" ;;
	*)
		if [ -z "$kernel" ]; then kernel=$1
		elif [ -z "$out" ]; then out=$1
		else die "unexpected argument $1"
		fi
		shift ;;
	esac
done
if [ -z "$kernel" ] || [ -z "$out" ]; then usage; fi
[ -f "$kernel" ] || die "kernel $kernel not found"
case "$cmdline" in *$'\n'* | *\"* | *\'* | *\\*) die "cmdline must not contain newlines, quotes or backslashes" ;; esac

"$KEEL_SCRIPTS/deps.sh" ensure iso >&2

stage=$(mktemp -d "${TMPDIR:-/tmp}/keel-iso.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/boot/grub" "$stage/boot/mod"
cp "$kernel" "$stage/boot/keel.elf"

cfg="$stage/boot/grub/grub.cfg"
{
	echo 'set timeout=0'
	echo 'set default=0'
	echo 'menuentry "keel" {'
	# GRUB 2 drops the file name from the Multiboot string; QEMU keeps it. Repeat it
	# so the kernel sees the same string from both.
	# Each word single-quoted: GRUB's script parser must not expand "test=*".
	printf '  multiboot /boot/keel.elf keel.elf'
	read -r -a words <<<"$cmdline"
	for w in ${words[@]+"${words[@]}"}; do printf " '%s'" "$w"; done
	printf '\n'
} >"$cfg"
for spec in ${modules[@]+"${modules[@]}"}; do
	path=${spec%%:*}
	name=$(basename "$path")
	[ "$spec" = "$path" ] || name=${spec#*:}
	case "$name" in '' | */* | *' '* | *,*) die "bad module name '$name'" ;; esac
	check_module_path "$path"
	cp "$path" "$stage/boot/mod/$name"
	echo "  module /boot/mod/$name $name" >>"$cfg"
done
{
	echo '  boot'
	echo '}'
} >>"$cfg"

mkdir -p "$(dirname "$out")"
# Only what a Multiboot boot from CD needs: smaller image, faster start-up.
if ! log=$(grub-mkrescue -d /usr/lib/grub/i386-pc -o "$out" \
	--install-modules="normal multiboot iso9660 biosdisk configfile echo" \
	--fonts= --locales= --themes= "$stage" 2>&1); then
	printf '%s\n' "$log" >&2
	die "grub-mkrescue failed"
fi
