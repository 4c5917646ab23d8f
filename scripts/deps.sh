#!/usr/bin/env bash
# Checks for and installs the host tools Keel needs, from Debian's archive.
#
#   deps.sh check   [GROUP|COMMAND...]   report what is missing; exit 1 if anything is
#   deps.sh install [GROUP|COMMAND...]   install the packages for all of them
#   deps.sh ensure  [GROUP|COMMAND...]   check; install only what is missing (quiet and
#                                        fast when everything is there)
#   deps.sh packages [GROUP|COMMAND...]  print the Debian package names
#
# Groups: build (nasm), qemu, bochs, iso (grub-mkrescue and friends), gdb.
# No argument means build qemu bochs iso (gdb only on request). A command name such
# as qemu-system-x86_64 or mformat selects the item that provides it.
# Installs with apt-get as root, with sudo -n otherwise; never prompts.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# One item per line: group, kind (cmd = a command in PATH, file = a path glob), the
# command or file, and the Debian package that provides it.
items() {
	cat <<'EOF'
build cmd nasm nasm
qemu cmd qemu-system-x86_64 qemu-system-x86
qemu cmd timeout coreutils
bochs cmd bochs bochs
bochs file /usr/lib/*/bochs/plugins/libbx_term_gui.so bochs-term
bochs file /usr/share/bochs/BIOS-bochs-latest bochsbios
bochs file /usr/share/vgabios/vgabios.bin vgabios
bochs cmd timeout coreutils
iso cmd grub-mkrescue grub-common
iso file /usr/lib/grub/i386-pc/modinfo.sh grub-pc-bin
iso file /usr/lib/grub/i386-pc/multiboot.mod grub-pc-bin
iso cmd xorriso xorriso
iso cmd mformat mtools
gdb cmd gdb gdb
EOF
}

# is_present KIND WHAT: true if the command or a file matching the glob exists.
is_present() {
	if [ "$1" = cmd ]; then
		command -v "$2" >/dev/null 2>&1
	else
		compgen -G "$2" >/dev/null
	fi
}

# select_items NAME...: prints the item lines wanted by group or command names.
select_items() {
	local want=("$@") w found
	[ ${#want[@]} -gt 0 ] || want=(build qemu bochs iso)
	for w in "${want[@]}"; do
		found=$(items | awk -v w="$w" '$1 == w || $3 == w || $4 == w')
		[ -n "$found" ] || die "unknown tool or group '$w' (groups: build qemu bochs iso gdb)"
		printf '%s\n' "$found"
	done | sort -u
}

# missing_packages ITEM-LINES (stdin): prints packages whose item is absent, one each;
# with -v also names what is missing on stderr.
missing_packages() {
	local verbose=$1 group kind what pkg
	while read -r group kind what pkg; do
		if ! is_present "$kind" "$what"; then
			[ "$verbose" = 0 ] || note "missing ($group): $what  [package $pkg]"
			echo "$pkg"
		fi
	done | sort -u
}

# apt_install PKG...: installs as root or through sudo -n; refreshes the package lists
# once if they are empty or the first attempt fails.
apt_install() {
	local sudo=()
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			note "cannot install as $(id -un): not root and no password-less sudo."
			note "as root, run: apt-get install --no-install-recommends $*"
			exit 1
		fi
	fi
	local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
		"${apt[@]}" update
	fi
	note "installing: $*"
	if ! "${apt[@]}" install --no-install-recommends "$@"; then
		note "install failed; refreshing package lists and retrying"
		"${apt[@]}" update
		"${apt[@]}" install --no-install-recommends "$@"
	fi
}

[ $# -ge 1 ] || usage
action=$1
shift
case "$action" in
check)
	missing=$(select_items "$@" | missing_packages 1)
	if [ -n "$missing" ]; then
		note "to install: $(echo "$missing" | tr '\n' ' ')(scripts/deps.sh install)"
		exit 1
	fi
	;;
ensure)
	missing=$(select_items "$@" | missing_packages 1)
	[ -z "$missing" ] || {
		# shellcheck disable=SC2086  # one package per word
		apt_install $missing
		still=$(select_items "$@" | missing_packages 1)
		[ -z "$still" ] || die "still missing after install: $(echo "$still" | tr '\n' ' ')"
	}
	;;
install)
	pkgs=$(select_items "$@" | awk '{ print $4 }' | sort -u)
	# shellcheck disable=SC2086
	apt_install $pkgs
	;;
packages)
	select_items "$@" | awk '{ print $4 }' | sort -u
	;;
-h | --help) usage ;;
*) die "unknown action '$action' (check, ensure, install, packages)" ;;
esac
