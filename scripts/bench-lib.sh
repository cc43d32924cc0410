#!/usr/bin/env bash
# Shared by scripts/bench*.sh (sourced, never run): the summary table `make bench` prints at the end.
#
# Each bench script calls `bench_row FIGURE OURS ANCHOR RATIO TARGET` for its headline figures; the row
# goes (tab-separated) to the file named by $BENCH_TABLE when that is set (scripts/bench.sh sets it) and
# nowhere otherwise, so every script still runs alone. `bench_table_print FILE` prints such a file
# aligned. Figures are printed, never asserted.

# bench_row FIGURE OURS ANCHOR RATIO TARGET: one summary row (empty fields print as "-").
bench_row() {
  [ -n "${BENCH_TABLE:-}" ] || return 0
  local f out=()
  for f in "$1" "$2" "$3" "$4" "$5"; do
    f="${f//$'\t'/ }"
    out+=("${f:--}")
  done
  printf '%s\t%s\t%s\t%s\t%s\n' "${out[@]}" >>"$BENCH_TABLE"
}

# bench_ratio A B: "A/B" as "12.3x", or "n/a" when either is missing or B is zero.
bench_ratio() {
  awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {
    if (a == "" || b == "" || a + 0 <= 0 || b + 0 <= 0) { print "n/a"; exit }
    r = a / b
    printf (r >= 10 ? "%.0fx" : (r >= 1 ? "%.1fx" : "%.2fx")), r
  }'
}

# bench_table_print FILE: the rows of FILE under a header, columns aligned.
bench_table_print() {
  [ -s "$1" ] || { echo "(no figures recorded)"; return 0; }
  {
    printf 'figure\tours\tanchor\tratio\ttarget\n'
    cat "$1"
  } | awk -F'\t' '
    { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } rows = NR }
    END {
      for (r = 1; r <= rows; r++) {
        line = ""
        for (i = 1; i <= 5; i++) line = line sprintf("%-" w[i] "s", cell[r, i]) (i < 5 ? "  " : "")
        sub(/ +$/, "", line)
        print line
        if (r == 1) {
          line = ""
          for (i = 1; i <= 5; i++) { d = ""; for (k = 0; k < w[i]; k++) d = d "-"; line = line d (i < 5 ? "  " : "") }
          print line
        }
      }
    }'
}
