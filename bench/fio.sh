#!/usr/bin/env bash
# The mount benchmarks: the clusterf mount vs. two go-fuse loopback
# filesystems (bench/loopback) over the same disk, in the same run:
#   loopback     passthrough off: every read and write goes through the
#                daemon (the ceiling of a Go FUSE filesystem)
#   passthrough  kernel FUSE passthrough on (go-fuse's default as root)
# Prints one table with every workload and the ratios clusterf/loopback and
# clusterf/passthrough.
#
# Needs root (FUSE), fio, python3, coreutils cp. Usage: bench/fio.sh [SIZE]
#   SIZE       sequential file size (default 1g; also from the environment)
#   NFILES     4 KiB files created, then stat'ed (default 10000)
#   NSYNC      4 KiB files created with fsync before close (default 2000)
#   CP_SRC     tree copied with cp -a (default $(go env GOROOT)/src; "" skips)
#   BENCH_FS   filesystems to run (default "clusterf loopback passthrough")
#   BENCH_DIR  where the work directory goes, on the disk under test
#              (default $TMPDIR or /tmp); removed at the end
#   CLUSTERF_BIN  a prebuilt clusterf binary (default: built here)
#   CLUSTERF_FLAGS extra flags for clusterf mount
#   FIO_DATA   "random" (default: every block fresh random bytes, fio
#              --refill_buffers; nothing dedups or compresses) or "fio"
#              (fio's default: one random buffer written again and again,
#              which clusterf stores as one deduplicated chunk)
#
# Workloads (each file system in turn, caches dropped before every write
# and cold read when /proc/sys/vm/drop_caches is writable, as reported):
#   write    fio, one job, bs=1M, SIZE, end_fsync=1; wall time around fio
#   read     fio, bs=1M, after dropping caches (job runtime)
#   reread   the same file read again at once (its content is cached
#            locally: the kernel's page cache for a mount that keeps it)
#   create   NFILES x (create, write 4 KiB, close)            (bench/fsops)
#   stat     lstat of those NFILES files after dropping caches (bench/fsops)
#   fsync    NSYNC x (create, write 4 KiB, fsync, close)       (bench/fsops)
#   cp -a    cp -a of CP_SRC into the mount (files/s)
# and the CPU time of the daemon (utime+stime of its process) per GiB
# written and read, plus fio's own (the client's system calls, where a
# passthrough mount does its work).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-${SIZE:-1g}}
NFILES=${NFILES:-10000}
NSYNC=${NSYNC:-2000}
FIO_DATA=${FIO_DATA:-random}
fiodata=(); [ "$FIO_DATA" = random ] && fiodata=(--refill_buffers=1)
CP_SRC=${CP_SRC-$(go env GOROOT)/src}
FSLIST=${BENCH_FS:-clusterf loopback passthrough}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
for t in fio python3 fusermount3 mountpoint; do
  command -v "$t" >/dev/null || { echo "fio.sh: $t not found (apt-get install -y fio fuse3 python3)" >&2; exit 1; }
done
work=$(mktemp -d "$base/clusterf-fio.XXXXXX")
declare -A pid
cleanup() {
  local m p
  for m in "$work"/mnt-*; do
    if mountpoint -q "$m"; then
      fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m"
    fi
  done
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
  # Never rm -rf through a live mount.
  for m in "$work"/mnt-*; do
    if mountpoint -q "$m"; then
      echo "fio.sh: $m is still mounted; leaving $work" >&2
      return
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${CLUSTERF_BIN:-}" ]; then
  cp "$CLUSTERF_BIN" "$work/clusterf"
else
  go build -o "$work/clusterf" ./cmd/clusterf
fi
go build -o "$work/loopback" ./bench/loopback
go build -o "$work/fsops" ./bench/fsops

mkdir -p "$work/data" "$work/loop-src" "$work/pt-src"
for fs in $FSLIST; do
  m="$work/mnt-$fs"
  mkdir -p "$m"
  case $fs in
  clusterf)
    # shellcheck disable=SC2086
    "$work/clusterf" mount "$m" --data-dir "$work/data" --node-id bench \
      --discovery-port 0 --no-desktop ${CLUSTERF_FLAGS:-} >"$work/clusterf.log" 2>&1 &
    ;;
  loopback) "$work/loopback" "$m" "$work/loop-src" >"$work/loopback.log" 2>&1 & ;;
  passthrough) "$work/loopback" -passthrough "$m" "$work/pt-src" >"$work/passthrough.log" 2>&1 & ;;
  *) echo "fio.sh: unknown file system $fs" >&2; exit 2 ;;
  esac
  pid[$fs]=$!
done
for fs in $FSLIST; do
  m="$work/mnt-$fs"
  for _ in $(seq 200); do mountpoint -q "$m" && break; sleep 0.1; done
  mountpoint -q "$m" || { echo "mount $m failed"; cat "$work"/*.log; exit 1; }
done

dropped=no
drop_caches() { sync; if echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then dropped=yes; fi; }
now() { date +%s.%N; }
py() { python3 -c "$@"; }
# CPU seconds (user+system) of a process so far.
cpu() { py 'import os,sys; f=open("/proc/%s/stat"%sys.argv[1]).read().rsplit(")",1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK"))' "$1"; }
# fio JSON on stdin -> "MiB/s fio-cpu-seconds" for the direction $1, using
# wall seconds $2 when given (else the job runtime)
fiostat() { py 'import json,sys
j=json.load(sys.stdin)["jobs"][0]; d=j[sys.argv[1]]; rt=d["runtime"]/1000
wall=float(sys.argv[2]) if len(sys.argv)>2 else rt
cpu=(j["usr_cpu"]+j["sys_cpu"])/100*j["job_runtime"]/1000
print(round(d["io_bytes"]/1048576/wall,1) if wall else 0, round(cpu,3), d["io_bytes"])' "$@"; }
# fsops output "n= bytes= ns=" -> ops/s or MB/s
rate() { py 'import sys; kv=dict(x.split("=") for x in sys.stdin.read().split()); s=int(kv["ns"])/1e9; print(round(int(kv[sys.argv[1]])/(1048576 if sys.argv[1]=="bytes" else 1)/s,1))' "$1"; }

declare -A res
for fs in $FSLIST; do
  d="$work/mnt-$fs"
  p=${pid[$fs]}
  echo "fio.sh: $fs: sequential write $SIZE" >&2
  # Also before writes: on this VM, page cache that lands in guest memory
  # never touched since boot costs ~5x the CPU of memory freed before
  # (1 GiB of new 4 MiB files: 1.8-2.3 core-s vs 0.37 after a drop), so
  # without it whichever file system writes first pays more.
  drop_caches
  c0=$(cpu "$p"); start=$(now)
  out=$(fio --output-format=json --directory="$d" --name=seq --rw=write --bs=1M --size="$SIZE" --end_fsync=1 "${fiodata[@]}")
  end=$(now); c1=$(cpu "$p")
  read -r mbs fcpu bytes < <(echo "$out" | fiostat write "$(py "print($end-$start)")")
  res[$fs.write]=$mbs
  res[$fs.wcpu]=$(py "print(round(($c1-$c0)/($bytes/2**30),2))")
  res[$fs.wcpu_all]=$(py "print(round(($c1-$c0+$fcpu)/($bytes/2**30),2))")
  drop_caches
  echo "fio.sh: $fs: sequential read $SIZE (cold)" >&2
  c0=$(cpu "$p")
  out=$(fio --output-format=json --directory="$d" --name=seq --rw=read --bs=1M --size="$SIZE")
  c1=$(cpu "$p")
  read -r mbs fcpu bytes < <(echo "$out" | fiostat read)
  res[$fs.read]=$mbs
  res[$fs.rcpu]=$(py "print(round(($c1-$c0)/($bytes/2**30),2))")
  res[$fs.rcpu_all]=$(py "print(round(($c1-$c0+$fcpu)/($bytes/2**30),2))")
  echo "fio.sh: $fs: re-read (cached)" >&2
  res[$fs.reread]=$("$work/fsops" read -file "$d/seq.0.0" | rate bytes)
  rm -f "$d"/seq.*

  mkdir -p "$d/small" "$d/sync"
  echo "fio.sh: $fs: $NFILES x 4 KiB creates" >&2
  res[$fs.create]=$("$work/fsops" create -dir "$d/small" -n "$NFILES" | rate n)
  drop_caches
  echo "fio.sh: $fs: stat of $NFILES files (cold)" >&2
  res[$fs.stat]=$("$work/fsops" stat -dir "$d/small" -n "$NFILES" | rate n)
  echo "fio.sh: $fs: $NSYNC x 4 KiB creates with fsync" >&2
  res[$fs.fsync]=$("$work/fsops" create -dir "$d/sync" -n "$NSYNC" -fsync | rate n)
  rm -rf "$d/small" "$d/sync"
  if [ -n "$CP_SRC" ] && [ "$fs" != passthrough ]; then
    nf=$(find "$CP_SRC" -type f | wc -l)
    echo "fio.sh: $fs: cp -a $CP_SRC ($nf files)" >&2
    start=$(now)
    cp -a "$CP_SRC" "$d/cp"
    end=$(now)
    res[$fs.cp]=$(py "print(round($nf/($end-$start)))")
    rm -rf "$d/cp"
  fi
done

get() { echo "${res[$1]:-}"; }
ratio() { py 'import sys; a,b=sys.argv[1],sys.argv[2]; print(round(float(a)/float(b),2) if a and b and float(b) else "-")' "$1" "$2"; }
echo "== Mount: clusterf vs go-fuse loopback, passthrough off (loopback) and on (passthrough); same disk; write data: $FIO_DATA; caches dropped before writes and cold reads: $dropped =="
printf '%-36s %11s %11s %11s %9s %9s\n' "workload ($SIZE bs=1M; 4 KiB files)" clusterf loopback passthru "cf/loop" "cf/pass"
row() { # key label
  local c l t
  c=$(get "clusterf.$1") l=$(get "loopback.$1") t=$(get "passthrough.$1")
  printf '%-36s %11s %11s %11s %9s %9s\n' "$2" "${c:--}" "${l:--}" "${t:--}" "$(ratio "$c" "$l")" "$(ratio "$c" "$t")"
}
row write "seq write (MiB/s, fsync at end)"
row read "seq read, cold (MiB/s)"
row reread "re-read, cached (MiB/s)"
row create "create+write+close 4 KiB (files/s)"
row fsync "create+write+fsync+close (files/s)"
row stat "stat, cold (files/s)"
row cp "cp -a Go src tree (files/s)"
row wcpu "write: daemon core-s per GiB"
row wcpu_all "write: daemon+fio core-s per GiB"
row rcpu "read: daemon core-s per GiB"
row rcpu_all "read: daemon+fio core-s per GiB"
echo "(ratios: clusterf / baseline, >1 is faster; for core-s per GiB, <1 is cheaper. write and the creates: wall time incl. the final fsync; read: fio's job runtime; $(nproc) CPUs)"
