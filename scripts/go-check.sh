#!/bin/sh
# go-check.sh: fail with one clear message when Go is missing or older
# than the version go.mod names. The Makefile runs it before any go command.
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
need=$(sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' go.mod)
how="see README.md, 'Go'"
if ! command -v "$GO" >/dev/null 2>&1; then
  echo "clusterf needs Go >= $need to build and '$GO' is not installed ($how)" >&2
  exit 1
fi
# In this module, go >= 1.21 with GOTOOLCHAIN=auto (Debian's default)
# fetches the toolchain go.mod names through the module proxy, once.
if ! have=$("$GO" env GOVERSION 2>&1); then
  echo "$have" >&2
  echo "clusterf needs Go >= $need: '$GO env GOVERSION' failed ($how)" >&2
  exit 1
fi
older() { # older A B: version A < version B
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -t. -k1,1n -k2,2n -k3,3n | head -n 1)" = "$1" ]
}
v=${have#go}
v=${v%%[!0-9.]*}
if older "$v" "$need"; then
  where=$(command -v "$GO")
  if older "$v" 1.21; then
    echo "clusterf needs Go >= $need; $where is $have, too old to fetch a newer Go itself (Debian 12's golang-go is 1.19): $how" >&2
  else
    echo "clusterf needs Go >= $need; $where is $have with GOTOOLCHAIN=$("$GO" env GOTOOLCHAIN), so it does not fetch go$need itself: run 'go env -w GOTOOLCHAIN=auto' ($how)" >&2
  fi
  exit 1
fi
