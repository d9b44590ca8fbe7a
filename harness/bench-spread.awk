# SPDX-License-Identifier: GPL-2.0-only
#
# bench-spread.awk BOOT1.out BOOT2.out ...: the spread of `make bench`
# over boots (BENCH_BOOTS=N). ioasid_bench prints "result KEY PATH MEDIAN
# MIN MAX" for each figure, the median of its runs in that boot; this
# prints, for each figure, each boot's median, the median of those, and
# their spread (largest less smallest) as a share of it. Figures that are
# 0 in every boot are left out, but for the metadata (kmem.*.meta).
FNR == 1 { boot++ }
{ sub(/\r$/, "") }
$1 == "result" && NF >= 4 && $2 != "done" {
	id = $2 " " $3
	if (!(id in seen)) {
		seen[id] = 1
		order[n++] = id
	}
	v[id, boot] = $4
}
function median(id,    a, i, j, k, t) {
	k = 0
	for (i = 1; i <= boot; i++)
		if ((id, i) in v)
			a[++k] = v[id, i] + 0
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	lo = a[1]; hi = a[k]; cnt = k
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
END {
	printf "%-28s %-14s", "figure", "path"
	for (i = 1; i <= boot; i++)
		printf " %11s", "boot " i
	printf " %11s %8s\n", "median", "spread"
	for (r = 0; r < n; r++) {
		id = order[r]
		split(id, f, " ")
		m = median(id)
		if (lo == 0 && hi == 0 && f[1] !~ /\.meta$/)
			continue
		printf "%-28s %-14s", f[1], f[2]
		for (i = 1; i <= boot; i++)
			printf " %11s", ((id, i) in v) ? sprintf("%.2f", v[id, i]) : "-"
		printf " %11.2f %7s\n", m, (m > 0 && cnt > 1) ? sprintf("%.0f%%", 100 * (hi - lo) / m) : "-"
	}
}
