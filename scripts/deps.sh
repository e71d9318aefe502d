#!/bin/sh
# deps.sh SCOPE: make sure the programs that deps/deps.txt lists for SCOPE
# are installed. SCOPE is run (a node), test (run + every test: make test)
# or bench (test + make bench). As root on Debian/Ubuntu it installs the
# missing packages with apt-get; otherwise it prints the one line to run
# and exits 1. `make run`, `make test` and `make bench` call it first.
set -eu
cd "$(dirname "$0")/.."
scope=${1:-}
case $scope in
  run) want="run" ;;
  test) want="run test" ;;
  bench) want="run test bench" ;;
  *) echo "usage: scripts/deps.sh run|test|bench" >&2; exit 2 ;;
esac
# ip and mount.davfs live in sbin, which is not on every user's PATH.
PATH=$PATH:/usr/sbin:/sbin
export PATH

# missing: the commands of the wanted scopes that are not installed, and
# their packages (each once), in deps.txt's order.
missing() {
  cmds= pkgs=
  while read -r cmd pkg sc _; do
    case $cmd in '' | '#'*) continue ;; esac
    case " $want " in *" $sc "*) ;; *) continue ;; esac
    command -v "$cmd" >/dev/null 2>&1 && continue
    cmds="$cmds $cmd"
    case " $pkgs " in *" $pkg "*) ;; *) pkgs="$pkgs $pkg" ;; esac
  done <deps/deps.txt
}

missing
if [ -n "$cmds" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "make $scope needs$cmds: run 'sudo apt-get install -y$pkgs' (as root, make $scope installs them itself)" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "make $scope needs$cmds (Debian packages:$pkgs): install them with your package manager" >&2
    exit 1
  fi
  echo "deps.sh: apt-get install$pkgs (for$cmds)"
  log=$(mktemp)
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    echo "deps.sh: apt-get install$pkgs failed (output above)" >&2
    exit 1
  fi
  rm -f "$log"
  missing
  if [ -n "$cmds" ]; then
    echo "deps.sh: still missing after apt-get install:$cmds (see deps/deps.txt)" >&2
    exit 1
  fi
fi

if [ ! -c /dev/fuse ]; then
  echo "make $scope needs /dev/fuse: load the fuse module ('modprobe fuse'; in a container, pass the device /dev/fuse)" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ] && ! { [ -r /dev/fuse ] && [ -w /dev/fuse ]; }; then
  echo "make $scope as $(id -un) needs /dev/fuse readable and writable (it is $(ls -l /dev/fuse | cut -d' ' -f1); Debian's default is crw-rw-rw-): run as root, or 'sudo chmod 0666 /dev/fuse'" >&2
  exit 1
fi
if [ "$scope" != run ] && [ "$(id -u)" != 0 ]; then
  echo "make $scope needs root (real FUSE mounts, tmpfs, network namespaces): run it as root, or 'sudo make $scope'" >&2
  exit 1
fi
