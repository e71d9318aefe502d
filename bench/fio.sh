#!/usr/bin/env bash
# fio through the clusterf mount vs. go-fuse's example loopback filesystem
# over the same disk, in the same run; prints throughput and ratios.
# Needs root (FUSE), fio. Usage: bench/fio.sh [SIZE] (default 1g).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1g}
NFILES=${NFILES:-10000}
work=$(mktemp -d "${BENCH_DIR:-$PWD}/.bench.XXXXXX")
pids=()
cleanup() {
  for m in "$work/mnt-clusterf" "$work/mnt-loopback"; do
    mountpoint -q "$m" && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/clusterf" ./cmd/clusterf
go build -o "$work/loopback" github.com/hanwen/go-fuse/v2/example/loopback
mkdir -p "$work/mnt-clusterf" "$work/mnt-loopback" "$work/loop-src" "$work/data"

"$work/clusterf" mount "$work/mnt-clusterf" --data-dir "$work/data" --node-id bench \
  --discovery-port 0 >"$work/clusterf.log" 2>&1 &
pids+=($!)
"$work/loopback" "$work/mnt-loopback" "$work/loop-src" >"$work/loopback.log" 2>&1 &
pids+=($!)
for m in "$work/mnt-clusterf" "$work/mnt-loopback"; do
  for _ in $(seq 100); do mountpoint -q "$m" && break; sleep 0.1; done
  mountpoint -q "$m" || { echo "mount $m failed"; cat "$work"/*.log; exit 1; }
done

# fio_bw DIR NAME ARGS... -> prints bandwidth in MiB/s (or files/s for creates)
fio_json() { fio --output-format=json --directory="$1" --name="$2" "${@:3}" ; }
bw() { python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; k=sys.argv[1]; print(round(j[k]["bw_bytes"]/1048576,1))' "$1"; }

declare -A res
for fs in clusterf loopback; do
  d="$work/mnt-$fs"
  res[$fs.write]=$(fio_json "$d" seqwrite --rw=write --bs=1M --size="$SIZE" --end_fsync=1 | bw write)
  sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
  res[$fs.read]=$(fio_json "$d" seqwrite --rw=read --bs=1M --size="$SIZE" | bw read)
  mkdir -p "$d/small"
  start=$(date +%s.%N)
  fio --directory="$d/small" --name=create --rw=write --bs=4k --filesize=4k \
    --nrfiles="$NFILES" --openfiles=1 --file_service_type=sequential >/dev/null
  end=$(date +%s.%N)
  res[$fs.create]=$(python3 -c "print(round($NFILES/($end-$start)))")
done

printf '%-34s %12s %12s %8s\n' "fio ($SIZE, bs=1M; $NFILES x 4KiB)" clusterf loopback ratio
for k in write read create; do
  unit=MiB/s; [ $k = create ] && unit=files/s
  c=${res[clusterf.$k]} l=${res[loopback.$k]}
  printf '%-34s %12s %12s %8s\n' "$k ($unit)" "$c" "$l" "$(python3 -c "print(round($c/$l,2))")"
done
