# SPDX-License-Identifier: GPL-2.0-only
#
# anchor-table.awk 6.1.out 6.12.out: the one table of `make bench-anchor`,
# from the "result KEY PATH MEDIAN MIN MAX" lines of ioasid_bench on 6.1
# with the series (first file) and on 6.12 (second file).
FNR == 1 { k++ }
{ sub(/\r$/, "") }
$1 == "result" && NF >= 4 {
	v[k, $2, $3] = (NF >= 6) ? sprintf(fmt($2), $4) " (" sprintf(fmt($2), $6 - $5) ")" : $4
	med[k, $2, $3] = $4
}
function fmt(key) {
	if (key ~ /^scale/) return "%.2f"
	if (key ~ /^large/) return "%.2f"
	return "%.0f"
}
function cell(kk, key, path) {
	return ((kk, key, path) in v) ? v[kk, key, path] : "-"
}
function ratio(key, a, c) {
	if (!((1, key, a) in med) || !((2, key, c) in med) || med[2, key, c] + 0 == 0 ||
	    med[1, key, a] !~ /^[0-9.]+$/)
		return "-"
	return sprintf("%.2f", med[1, key, a] / med[2, key, c])
}
function row(label, key, a, b, c, d) {
	printf "%-30s %18s %18s %18s %18s %8s\n", label, cell(1, key, a), cell(1, key, b),
	       cell(2, key, c), cell(2, key, d), a == "floor" ? "-" : ratio(key, a, c)
}
function rows(label, key) {
	row(label, key, "ioasid", "type1", "iommufd", "type1")
	row("  " "pin floor (IOAS, no device)", key, "floor", "", "floor", "")
	row("  " "container (type1 ioctls)", key, "compat", "", "", "")
}
END {
	printf "%-30s %18s %18s %18s %18s %8s\n", "workload", "ioasid 6.1",
	       "type1 6.1", "iommufd 6.12", "type1 6.12", "ioasid/"
	printf "%-30s %18s %18s %18s %18s %8s\n", "", "", "", "", "", "iommufd"
	n = split("4K THP hugetlb 4K-scat", kinds, " ")
	for (i = 1; i <= n; i++) {
		rows("large " kinds[i] " map ms", "large." kinds[i] ".map")
		rows("large " kinds[i] " unmap ms", "large." kinds[i] ".unmap")
	}
	for (i = 1; i <= n; i++) {
		rows("kmem " kinds[i] " meta KiB/GiB", "kmem." kinds[i] ".meta")
		rows("kmem " kinds[i] " pages KiB/GiB", "kmem." kinds[i] ".pages")
	}
	m = split("1000 10000 100000", lv, " ")
	for (i = 1; i <= m; i++) {
		row("scale " lv[i] " live: map us", "scale." lv[i] ".map", "ioasid", "type1", "iommufd", "type1")
		row("  container", "scale." lv[i] ".map", "compat", "", "", "")
		row("scale " lv[i] " live: unmap us", "scale." lv[i] ".unmap", "ioasid", "type1", "iommufd", "type1")
		row("  container", "scale." lv[i] ".unmap", "compat", "", "", "")
	}
	split("1 4", th, " ")
	for (i = 1; i <= 2; i++) {
		row("small " th[i] " thread(s) cycles/s", "small." th[i], "ioasid", "type1", "iommufd", "type1")
		row("  container", "small." th[i], "compat", "", "", "")
		row("  64 ranges per call", "small." th[i], "ioasid-x64", "", "", "")
	}
}
