#!/usr/bin/env bash
# Runs one fuzz target for a while: scripts/fuzz.sh PKG TARGET FUZZTIME.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" at the very end of a duration -fuzztime when a worker
# is still mid-exec (a shutdown race under CPU contention, golang/go#75804,
# fixed in Go 1.27). Such a run found nothing: it wrote no failing input.
# It is run again (at most twice more); any other failure fails.
set -uo pipefail
pkg=$1 target=$2 time=$3
GO=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for attempt in 1 2 3; do
  "$GO" test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$time" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && exit 0
  if [ "$attempt" -lt 3 ] && grep -q 'context deadline exceeded' "$log" &&
     ! grep -q -e 'Failing input written' -e 'panic:' -e '_test.go:[0-9]*:' "$log"; then
    echo "fuzz.sh: $target hit Go's fuzztime deadline race (golang/go#75804), no failing input: running it again" >&2
    continue
  fi
  exit "$rc"
done
