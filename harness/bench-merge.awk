# SPDX-License-Identifier: GPL-2.0-only
#
# bench-merge.awk BOOT1.out BOOT2.out ...: the ioasid_bench output of
# several boots of one kernel as if of one, for `make bench-anchor` with
# BENCH_BOOTS=N. For each "result KEY PATH MEDIAN MIN MAX" figure it prints
# the median of the boots' medians and the smallest and the largest run of
# any boot; then "result done ok". A figure that is a word ("limit") in
# every boot stays that word.
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
	val[id, ++cnt[id]] = $4 + 0
	if (NF >= 6) {
		if (!(id in lo) || $5 + 0 < lo[id])
			lo[id] = $5 + 0
		if (!(id in hi) || $6 + 0 > hi[id])
			hi[id] = $6 + 0
	}
}
function median(id,    a, i, j, k, t) {
	k = cnt[id]
	for (i = 1; i <= k; i++)
		a[i] = val[id, i]
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
END {
	for (i = 0; i < n; i++) {
		id = order[i]
		if (!(id in cnt))
			print "result", id, word[id]
		else if (id in lo)
			printf "result %s %.3f %.3f %.3f\n", id, median(id), lo[id], hi[id]
		else
			printf "result %s %.3f\n", id, median(id)
	}
	print "result done ok"
}
