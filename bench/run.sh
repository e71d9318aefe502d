#!/usr/bin/env bash
# The whole benchmark suite (make bench): every part prints its own table
# with clusterf's numbers, the same run's baseline and the ratio; a summary
# of all tables follows at the end. Nothing is asserted and nothing is
# written into the tree: results go to stdout only.
#
# Needs root (FUSE, network namespaces), fio, python3, iproute2, fuse3.
# Knobs (environment), defaults sized for a small shared machine:
#   BENCH_ONLY        parts to run (default: "micro fio http cluster atrest search")
#   CLUSTERF_BIN      binary to test (default bin/clusterf, built by make)
#   SIZE NFILES       fio: sequential size (1g), 4 KiB creates (10000)
#   HTTP_CONC HTTP_N_1M HTTP_N_4K   httpbench: clients (16), requests per
#                     1 MiB case (2000: 400 lasted half a second, too
#                     short to measure) and per 4 KiB case (4000)
#   CLUSTER_NODES CLUSTER_CREATES CLUSTER_SYNC_FILES CLUSTER_SYNC_VIA
#   CLUSTER_POLL      cluster benchmark (5, 200, 30000, rest, tight loop);
#                     100000 sync files took ~6 min alone on 2 cores (351 creates/s)
#   RPC_BENCHTIME     iterations of transport's BenchmarkRPC in its own
#                     run (2000x); the 1x run of the micro set is one RPC
#   MEDIA_SECONDS     media (opt-in part "media"): length of the 1080p sources (60)
#   BENCH_DIR         work directories go here (default $TMPDIR or /tmp)
#   ATREST_RESTART_N ATREST_FUSE_SIZE   atrest part: chunks of the engine
#                     restart case (1000000; filling takes minutes per
#                     engine) and bytes through the mount (1073741824)
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
ONLY=${BENCH_ONLY:-micro fio http cluster atrest search}
BIN=${CLUSTERF_BIN:-bin/clusterf}
export BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
export CLUSTER_SYNC_FILES=${CLUSTER_SYNC_FILES:-30000}

out=$(mktemp -d "$BENCH_DIR/clusterf-bench-out.XXXXXX")
trap 'rm -rf "$out"' EXIT
trap 'exit 130' INT TERM
failed=()
t_start=$(date +%s)

want() { [[ " $ONLY " == *" $1 "* ]]; }
section() { echo; echo "################ $* ($(date +%T))"; }

if [ ! -x "$BIN" ]; then
  $GO build -o "$BIN" ./cmd/clusterf || exit 1
fi
BIN=$(realpath "$BIN")

if want micro; then
  section "Go micro-benchmarks (crdt, chunk, transport; -benchtime 1x)"
  $GO test -run '^$' -bench . -benchtime 1x ./crdt/ ./chunk/... ./transport/ 2>&1 | tee "$out/micro" \
    || failed+=(micro)
  section "transport BenchmarkRPC, -benchtime ${RPC_BENCHTIME:-2000x}"
  $GO test -run '^$' -bench 'BenchmarkRPC$' -benchtime "${RPC_BENCHTIME:-2000x}" ./transport/ 2>&1 | tee "$out/rpc" \
    || failed+=(rpc)
fi

if want fio; then
  section "fio: clusterf mount vs go-fuse loopback"
  CLUSTERF_BIN=$BIN ./bench/fio.sh 2>&1 | tee "$out/fio" || failed+=(fio)
fi

if want http; then
  section "HTTP: clusterf REST vs net/http"
  $GO build -o "$out/httpbench" ./bench/httpbench &&
    "$out/httpbench" -clusterf "$BIN" -dir "$BENCH_DIR" -c "${HTTP_CONC:-16}" \
      -n1m "${HTTP_N_1M:-2000}" -n4k "${HTTP_N_4K:-4000}" 2>&1 | tee "$out/http" || failed+=(http)
fi

if want cluster; then
  section "cluster: ${CLUSTER_NODES:-5} nodes in network namespaces"
  # The benchmark builds its own binary (integration.BuildBinary) from this tree.
  # Tag bench: the package's benchmarks stay out of make test's go vet/test.
  $GO test -tags bench -run '^$' -bench 'BenchmarkCluster$' -benchtime 1x -timeout 30m ./bench/ 2>&1 \
    | grep -v '^        time=' | tee "$out/cluster" || failed+=(cluster)
  section "cluster replication: RF=3 write vs raw quic-go, full RF, repair after a node loss (${REPL_SIZE:-256M})"
  # REPL_SIZE (256M; 1G for the issue's figure): bytes written into node A's
  # mount, and the size of the raw quic-go stream (bench/quicsink) it is
  # compared with. Its table goes into the summary with the cluster's.
  $GO test -tags bench -run '^$' -bench 'BenchmarkReplication$' -benchtime 1x -timeout 30m ./bench/ 2>&1 \
    | grep -v '^        time=' | tee -a "$out/cluster" || failed+=(replication)
fi

if want atrest; then
  section "engines and encryption at rest: plain vs sealed, restart with ${ATREST_RESTART_N:-1000000} chunks, FUSE encrypted vs plain"
  $GO run ./bench/atrestbench -dir "$BENCH_DIR" -clusterf "$BIN" \
    -restart-n "${ATREST_RESTART_N:-1000000}" -fuse-size "${ATREST_FUSE_SIZE:-1073741824}" 2>&1 \
    | tee "$out/atrest" || failed+=(atrest)
fi

if want filesync; then
  # Opt-in (BENCH_ONLY="... filesync"): FILESYNC_RESCAN_FILES (100000) files
  # are imported first for the unchanged-rescan figure (several minutes).
  section "import/export: Go source tree vs rsync -a into the mount, unchanged rescan, change-to-visible"
  $GO test -tags bench -run '^$' -bench 'BenchmarkFilesync$' -benchtime 1x -timeout 60m ./bench/ 2>&1 \
    | grep -v '^        time=' | tee "$out/filesync" || failed+=(filesync)
fi

if want media; then
  # Opt-in (BENCH_ONLY="... media"): generates two 1080p sources of
  # MEDIA_SECONDS (60) s first (a few minutes on 2 cores).
  section "media: time to the first segment and speed, 1080p, remux vs encode"
  $GO test -tags bench -run '^$' -bench 'BenchmarkMedia$' -benchtime 1x -timeout 60m ./bench/ 2>&1 \
    | grep -v '^        time=' | tee "$out/media" || failed+=(media)
fi

if want search; then
  # SEARCH_BENCH_FILES ("100000 1000000"): namespace sizes; SEARCH_BENCH_TEXT
  # (0.01): the share of files with text. The 1M case takes ~15 min on 2 cores.
  # BenchmarkSearchFTS5: the SQLite FTS5 alternative on the same names.
  section "search index: build rate, size, heap, query latency, write-to-searchable (docs/search.md)"
  $GO test -tags bench -run '^$' -bench 'BenchmarkSearch(FTS5)?$' -benchtime 1x -timeout 120m ./bench/ 2>&1 \
    | grep -E '^(search-|ok|FAIL|---)' | tee "$out/search" || failed+=(search)
fi

# Summary: the tables again, in one place.
section "SUMMARY"
echo "machine: $(nproc) CPUs, $(uname -r), go $($GO env GOVERSION), clusterf $("$BIN" version 2>/dev/null | awk '{print $2}'), work dir on $(df --output=source "$BENCH_DIR" | tail -1)"
if [ -s "$out/micro" ] || [ -s "$out/rpc" ]; then
  echo
  echo "== transport vs raw quic-go (same loopback, same QUIC/TLS config) =="
  cat "$out/micro" "$out/rpc" 2>/dev/null | awk '
    /^BenchmarkRPC-/ || /^BenchmarkStream1GiB-/ {
      name=$1; iters=$2; c=""; r=""; ratio=""; cu=""; ru=""; rl=""
      for (i=3; i<NF; i++) {
        if ($(i+1) ~ /^clusterf-/) { c=$i; cu=$(i+1) }
        if ($(i+1) ~ /^rawquic-/)  { r=$i; ru=$(i+1) }
        if ($(i+1) ~ /^ratio/)     { ratio=$i; rl=$(i+1) }
      }
      printf "%-26s n=%-6s %10s %-16s %10s %-16s %s=%s\n", name, iters, c, cu, r, ru, rl, ratio
    }'
  echo "(ratio-time = clusterf time / raw time, >1 is slower; ratio = clusterf MB/s / raw MB/s, >1 is faster)"
  echo
  echo "== Go micro-benchmarks (1 iteration each: orders of magnitude, not precise) =="
  awk '/^pkg: / { pkg=$2; sub(".*/clusterf/clusterf/", "", pkg) }
       /^Benchmark/ && !/^Benchmark(RPC|Stream1GiB)-/ { $1=pkg "." $1; print }' "$out/micro"
fi
for f in fio http atrest; do
  if [ -s "$out/$f" ]; then
    echo
    grep -E '^(==|\(|[a-zA-Z]|WARNING)' "$out/$f" | grep -vE '^(fio\.sh:|httpbench:)' \
      | sed -n '/^==/,$p'
  fi
done
if [ -s "$out/media" ]; then
  echo
  sed -n '/^media: /,/^goos:/p' "$out/media" | grep -v '^goos:'
fi
if [ -s "$out/filesync" ]; then
  echo
  sed -n '/^== Import\/export/,/^goos:/p' "$out/filesync" | grep -v '^goos:'
fi
if [ -s "$out/cluster" ]; then
  echo
  sed -n '/^== Cluster/,/^goos:/p' "$out/cluster" | grep -v '^goos:'
  grep -E '^BenchmarkCluster' "$out/cluster" | sed 's/[[:space:]]\+/ /g'
fi
echo
echo "total time: $(( $(date +%s) - t_start ))s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED parts: ${failed[*]} (see their output above)"
  exit 1
fi
