#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# mkconfig.sh FLAVOR: write $OUT/obj-FLAVOR/.config from tinyconfig plus the
# fragments of that flavour, then check that every symbol a fragment asks
# for really is set (Kconfig silently drops a symbol whose dependencies are
# unmet). A later fragment overrides an earlier one. The .config is replaced only when its content changes, so an
# unchanged configuration never triggers a rebuild.
# The flavour anchor is Debian's 6.12 in $OUT/linux-6.12 (make bench-anchor):
# the symbols of the fragments that 6.12 does not know are named and skipped.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavor=${1:?usage: mkconfig.sh test|lean|nocore|series|anchor}
src=$SRC
stamp=$OUT/series.stamp
case $flavor in
test) frags="harness/configs/base.config tools/testing/selftests/ioasid/config" ;;
lean) frags="harness/configs/base.config harness/configs/lean.config" ;;
nocore) frags="harness/configs/base.config harness/configs/lean.config harness/configs/nocore.config" ;;
# make series-check: the test kernel's, so that make check's test kernel
# is the whole kernel at the end of the series (SERIES_KERNEL_OBJ).
series) frags="harness/configs/base.config tools/testing/selftests/ioasid/config" ;;
anchor)
	frags="harness/configs/base.config harness/configs/lean.config harness/configs/anchor.config"
	src=$ANCHOR_SRC
	stamp=$OUT/linux-6.12.version
	;;
*) die "unknown flavour $flavor" ;;
esac
obj=$OUT/obj-$flavor
scratch=$OUT/kconfig-$flavor
mkdir -p "$obj" "$scratch"
cd "$REPO"
# shellcheck disable=SC2086
sum=$(cat $frags "$stamp" | sha256sum)
if [ "$(cat "$obj/frags.stamp" 2>/dev/null)" = "$sum" ] && [ -f "$obj/.config" ]; then
	exit 0
fi

make -s -C "$src" O="$scratch" tinyconfig >/dev/null
# shellcheck disable=SC2086
(cd "$src" && scripts/kconfig/merge_config.sh -m -O "$scratch" \
	"$scratch/.config" $(printf "$REPO/%s " $frags)) >/dev/null
make -s -C "$src" O="$scratch" olddefconfig >/dev/null

# 6.12: every symbol its Kconfig files define
[ "$flavor" != anchor ] ||
	find "$src" -name 'Kconfig*' -exec sed -n 's/^\(menu\)\?config \([A-Za-z0-9_]*\).*/CONFIG_\2/p' {} + |
	sort -u > "$scratch/symbols"
bad=0
# shellcheck disable=SC2086
while IFS== read -r sym val; do
	if [ "$flavor" = anchor ] && ! grep -qx "$sym" "$scratch/symbols"; then
		note "anchor config: $sym=$val skipped, 6.12 has no such symbol"
		continue
	fi
	if [ "$val" = n ]; then
		grep -q "^$sym=" "$scratch/.config" || continue
	else
		grep -qx "$sym=$val" "$scratch/.config" && continue
	fi
	echo "harness: $flavor config: $sym=$val was asked for but is" \
	     "'$(grep "^$sym=\|^# $sym is not set" "$scratch/.config" || echo unset)'" >&2
	bad=1
done < <(cat $frags | grep '^CONFIG_' |
	awk -F= '{ if (!($1 in v)) order[n++] = $1; v[$1] = $2 }
		 END { for (i = 0; i < n; i++) print order[i] "=" v[order[i]] }')
[ $bad = 0 ] || die "$flavor config dropped symbols (unmet dependencies)"

cmp -s "$scratch/.config" "$obj/.config" || cp "$scratch/.config" "$obj/.config"
echo "$sum" > "$obj/frags.stamp"
note "$flavor config ready"
