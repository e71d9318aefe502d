// Package doctor checks that a machine can run a clusterf node and says
// what to fix: the FUSE device and fusermount3, the data dir (writable,
// free space), the mount point, UDP broadcast on the discovery port (one
// packet is sent to the configured broadcast address and must come back),
// the clock, and the programs that later features need (deps.txt's
// "feature" lines). `clusterf doctor` prints the report and exits non-zero
// when a required check fails.
//
// Every outside input is a Config field, so tests run the real checks
// against temporary directories and loopback addresses only.
package doctor
