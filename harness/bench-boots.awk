# SPDX-License-Identifier: GPL-2.0-only
#
# awk -v mode=MODE -f bench-boots.awk BOOT1.out BOOT2.out ...: the
# ioasid_bench output of several boots of one kernel (BENCH_BOOTS=N).
# ioasid_bench prints "result KEY PATH MEDIAN MIN MAX" for each figure,
# the median of its runs in that boot, and the smallest and largest run.
#
# mode=merge   (`make bench-anchor`) the boots as if of one: for each
#              figure, the median of the boots' medians and the smallest
#              and the largest run of any boot, as "result" lines again,
#              then "result done ok". A figure that is a word ("limit") in
#              every boot stays that word.
# mode=spread  (`make bench`) a table: for each figure, each boot's median,
#              the median of those, and their spread (largest less
#              smallest) as a share of it. Figures that are 0 in every boot
#              are left out, but for the metadata (kmem.*.meta).
FNR == 1 { boot++ }
{ sub(/\r$/, "") }
$1 == "result" && NF >= 4 && $2 != "done" {
	id = $2 " " $3
	if (!(id in seen)) {
		seen[id] = 1
		order[n++] = id
	}
	if ($4 !~ /^-?[0-9.]+$/) {
		word[id] = $4
		next
	}
	v[id, boot] = $4 + 0
	if (NF >= 6) {
		if (!(id in lo) || $5 + 0 < lo[id])
			lo[id] = $5 + 0
		if (!(id in hi) || $6 + 0 > hi[id])
			hi[id] = $6 + 0
	}
}
# The median of figure @id's boot medians; sets bmin, bmax and bcnt.
function median(id,    a, i, j, k, t) {
	k = 0
	for (i = 1; i <= boot; i++)
		if ((id, i) in v)
			a[++k] = v[id, i]
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	bmin = a[1]; bmax = a[k]; bcnt = k
	if (!k)
		return ""
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
function merge(id,    m) {
	m = median(id)
	if (!bcnt)
		print "result", id, word[id]
	else if (id in lo)
		printf "result %s %.3f %.3f %.3f\n", id, m, lo[id], hi[id]
	else
		printf "result %s %.3f\n", id, m
}
function spread(id,    f, i, m) {
	split(id, f, " ")
	m = median(id)
	if (!bcnt || (bmin == 0 && bmax == 0 && f[1] !~ /\.meta$/))
		return
	printf "%-28s %-14s", f[1], f[2]
	for (i = 1; i <= boot; i++)
		printf " %11s", ((id, i) in v) ? sprintf("%.2f", v[id, i]) : "-"
	printf " %11.2f %7s\n", m, (m > 0 && bcnt > 1) ? \
		sprintf("%.0f%%", 100 * (bmax - bmin) / m) : "-"
}
END {
	if (mode == "spread") {
		printf "%-28s %-14s", "figure", "path"
		for (i = 1; i <= boot; i++)
			printf " %11s", "boot " i
		printf " %11s %8s\n", "median", "spread"
	}
	for (r = 0; r < n; r++)
		if (mode == "spread")
			spread(order[r])
		else
			merge(order[r])
	if (mode != "spread")
		print "result done ok"
}
