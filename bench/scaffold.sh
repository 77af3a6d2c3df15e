#!/usr/bin/env bash
# `micro new` (render and write, no build) against `cargo new`, run alternately in one session on
# this machine; prints each tool's median and the ratio of medians. Usage: bench/scaffold.sh [RUNS]
# Uses the release build of micro (built first if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"

cargo build --release --quiet -p micro-cli
micro="$PWD/target/release/micro"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

now() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1e6 }'; }

: > "$work/micro.ns"
: > "$work/cargo.ns"
for i in $(seq "$runs"); do
  start=$(now); "$micro" new "m$i" --path "$work/micro" --yes -q; echo $(( $(now) - start )) >> "$work/micro.ns"
  start=$(now); cargo new -q --vcs none "$work/cargo/c$i"; echo $(( $(now) - start )) >> "$work/cargo.ns"
done

micro_ms=$(median < "$work/micro.ns")
cargo_ms=$(median < "$work/cargo.ns")
files=$(find "$work/micro/m1" -type f | wc -l)
printf 'runs: %s (alternating), machine: %s cores\n' "$runs" "$(nproc)"
printf '%-36s %8s ms  (%s files)\n' "micro new (default service)" "$micro_ms" "$files"
printf '%-36s %8s ms\n' "cargo new --vcs none" "$cargo_ms"
awk -v m="$micro_ms" -v c="$cargo_ms" 'BEGIN { printf "%-36s %8.2f\n", "ratio micro/cargo (medians)", m / c }'
