// Package bench is clusterf's benchmark suite (`make bench`, never part of
// `make test`). Performance is measured, not asserted: every benchmark
// prints its numbers next to a baseline measured in the same run, and
// nothing here fails on a timing.
//
//   - fio.sh: fio through the clusterf mount vs. go-fuse's example loopback
//     filesystem over the same disk (sequential 1 MiB write/read, 4 KiB file
//     creates).
//   - httpbench: the REST API vs. a plain net/http file server over the same
//     disk (PUT/GET, 1 MiB and 4 KiB, concurrent clients).
//   - BenchmarkCluster (cluster_test.go): a cluster of real clusterf
//     processes in network namespaces: create-to-visible latency on every
//     other node's mount, and the catch-up rate of a node restarted after
//     the others created many files. Its network baseline is the transport
//     package's raw quic-go comparison (BenchmarkRPC, BenchmarkStream1GiB).
//   - BenchmarkReplication (replication_test.go): RF=3 write through one
//     mount of a 3-node namespace cluster vs. a raw quic-go stream on the
//     same links (quicsink), time to full RF, and repair time after a
//     kill -9 with a new node joining (REPL_SIZE, default 256 MiB).
//   - run.sh: runs all of the above plus the Go micro-benchmarks and prints
//     a summary.
//
// Sizes come from environment variables (see run.sh) so a run fits the
// machine at hand.
package bench
