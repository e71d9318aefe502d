#!/usr/bin/env bash
# fio through the clusterf mount vs. go-fuse's example loopback filesystem
# over the same disk, in the same run; prints throughput and ratios.
#
# Needs root (FUSE), fio, python3. Usage: bench/fio.sh [SIZE]
#   SIZE      sequential file size (default 1g; also from the environment)
#   NFILES    number of 4 KiB files created (default 10000)
#   BENCH_DIR where the work directory goes, on the disk under test
#             (default $TMPDIR or /tmp); removed at the end
#   CLUSTERF_BIN  a prebuilt clusterf binary (default: built here)
#
# Both filesystems run from the same work directory. clusterf makes close()
# and fsync() durable, so its 4 KiB creates pay a sync each; fio never
# fsyncs the loopback's small files. The sequential write ends with one
# fsync (end_fsync=1) on both. Page caches are dropped before each read
# when /proc/sys/vm/drop_caches is writable (reported below).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-${SIZE:-1g}}
NFILES=${NFILES:-10000}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
for t in fio python3 fusermount3 mountpoint; do
  command -v "$t" >/dev/null || { echo "fio.sh: $t not found (apt-get install -y fio fuse3 python3)" >&2; exit 1; }
done
work=$(mktemp -d "$base/clusterf-fio.XXXXXX")
pids=()
cleanup() {
  local m p
  for m in "$work/mnt-clusterf" "$work/mnt-loopback"; do
    if mountpoint -q "$m"; then
      fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m"
    fi
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # Never rm -rf through a live mount.
  if mountpoint -q "$work/mnt-clusterf" || mountpoint -q "$work/mnt-loopback"; then
    echo "fio.sh: a mount is still present; leaving $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${CLUSTERF_BIN:-}" ]; then
  cp "$CLUSTERF_BIN" "$work/clusterf"
else
  go build -o "$work/clusterf" ./cmd/clusterf
fi
go build -o "$work/loopback" github.com/hanwen/go-fuse/v2/example/loopback
mkdir -p "$work/mnt-clusterf" "$work/mnt-loopback" "$work/loop-src" "$work/data"

"$work/clusterf" mount "$work/mnt-clusterf" --data-dir "$work/data" --node-id bench \
  --discovery-port 0 --no-desktop >"$work/clusterf.log" 2>&1 &
pids+=($!)
"$work/loopback" "$work/mnt-loopback" "$work/loop-src" >"$work/loopback.log" 2>&1 &
pids+=($!)
for m in "$work/mnt-clusterf" "$work/mnt-loopback"; do
  for _ in $(seq 200); do mountpoint -q "$m" && break; sleep 0.1; done
  mountpoint -q "$m" || { echo "mount $m failed"; cat "$work"/*.log; exit 1; }
done

dropped=no
drop_caches() { sync; if echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then dropped=yes; fi; }

# MiB/s of the job's direction, from fio's JSON (io_bytes / job runtime)
bw() { python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0][sys.argv[1]]; print(round(j["io_bytes"]/1048576/(j["runtime"]/1000),1) if j["runtime"] else 0)' "$1"; }
now() { date +%s.%N; }

declare -A res
for fs in clusterf loopback; do
  d="$work/mnt-$fs"
  echo "fio.sh: $fs: sequential write $SIZE" >&2
  # Wall clock around fio, so the final fsync is surely inside the timing.
  start=$(now)
  bytes=$(fio --output-format=json --directory="$d" --name=seq --rw=write --bs=1M \
    --size="$SIZE" --end_fsync=1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["write"]["io_bytes"])')
  end=$(now)
  res[$fs.write]=$(python3 -c "print(round($bytes/1048576/($end-$start),1))")
  drop_caches
  echo "fio.sh: $fs: sequential read $SIZE" >&2
  res[$fs.read]=$(fio --output-format=json --directory="$d" --name=seq --rw=read --bs=1M \
    --size="$SIZE" | bw read)
  rm -f "$d"/seq.*
  mkdir -p "$d/small"
  echo "fio.sh: $fs: $NFILES x 4 KiB creates" >&2
  start=$(now)
  fio --directory="$d/small" --name=create --rw=write --bs=4k --filesize=4k \
    --nrfiles="$NFILES" --openfiles=1 --file_service_type=sequential --create_on_open=1 >/dev/null
  end=$(now)
  res[$fs.create]=$(python3 -c "print(round($NFILES/($end-$start)))")
  rm -rf "$d/small"
done

echo "== fio: clusterf mount vs go-fuse example loopback (same disk; caches dropped before reads: $dropped) =="
printf '%-34s %12s %12s %8s\n' "fio ($SIZE, bs=1M; $NFILES x 4KiB)" clusterf loopback ratio
for k in write read create; do
  unit=MiB/s; [ $k = create ] && unit=files/s
  c=${res[clusterf.$k]} l=${res[loopback.$k]}
  printf '%-34s %12s %12s %8s\n' "$k ($unit)" "$c" "$l" "$(python3 -c "print(round($c/$l,2) if $l else 'n/a')")"
done
echo "(ratio = clusterf / loopback, >1 is faster; write and create: wall time around fio incl. its startup and the final fsync; read: fio's job runtime)"
