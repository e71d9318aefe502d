package integration

// Jepsen-style fault injection (issue 8): a cluster of real clusterf
// processes, each in its own network namespace; a nemesis that injects
// faults on a seeded schedule; clients that write through FUSE and REST and
// record every acknowledged operation; a checker that heals everything,
// waits for convergence and proves that nothing acknowledged was lost.
//
//	res := integration.RunFaults(t, integration.DefaultFaultConfig(seed))
//	t.Log(res.Line())
//
// The schedule (which fault, on which node, for how long, and every
// client's operations) is a pure function of the seed; real timing is not,
// so a replay exercises the same schedule under slightly different
// interleavings.
//
// The harness is split by concern: faults_config.go (configuration and
// verdict), faults_cluster.go (the cluster and the driver RunFaults),
// faults_clients.go (clients and their model), faults_nemesis.go (fault
// kinds), faults_checker.go (convergence, check, diagnosis).

import (
	"fmt"
	"strings"
	"time"
)

// Fault kinds, in the order the verdict line prints them.
var FaultKinds = []string{"kill", "pause", "partition", "netem", "clock", "corrupt", "disk"}

const (
	faultClusterKey = "faults-test-key"
	faultChunkSize  = 64 << 10
	faultInlineMax  = 4 << 10 // replica.DefaultInlineMax: files up to this size have no chunks
)

// FaultConfig configures [RunFaults].
type FaultConfig struct {
	Seed           uint64
	Nodes          int           // storage nodes (5)
	RF             int           // replication factor (3); at most RF-1 nodes are impaired at once
	FaultPhase     time.Duration // the nemesis runs at least this long…
	MinEvents      int           // …and until it injected this many faults
	FuseClients    int           // clients writing through FUSE mounts (node i%Nodes)
	RESTClients    int           // clients writing through REST (node (FuseClients+i)%Nodes)
	FilesPerClient int
	// Delete-heavy clients (faults_heavy.go): files of several chunks,
	// whole and in-place overwrites, deletes, the same names and bytes
	// again, whole-directory deletes. FUSE ones first, then REST; node
	// id%Nodes, ids after the clients above.
	HeavyFuseClients int
	HeavyRESTClients int
	// GC pressure: every node runs with --gc-grace GCGrace, and the
	// cluster's partition sync interval (the repair, garbage collection and
	// compaction round) is RepairInterval, so collection runs during the
	// fault phase.
	GCGrace         time.Duration
	RepairInterval  time.Duration // whole seconds, at least 1 s
	ConvergeTimeout time.Duration
	// GCDrainTimeout bounds the wait, after convergence, until no node
	// stores a chunk the converged tree does not reference.
	GCDrainTimeout time.Duration
	TmpfsMB        int // >0: the last node's data dir is a tmpfs of this size ("disk" faults fill it)
}

// heavyClients reports whether delete-heavy clients run (and so garbage
// collection must reclaim something).
func (cfg FaultConfig) heavyClients() bool { return cfg.HeavyFuseClients+cfg.HeavyRESTClients > 0 }

// DefaultFaultConfig is the short (CI) configuration.
func DefaultFaultConfig(seed uint64) FaultConfig {
	return FaultConfig{
		Seed: seed, Nodes: 5, RF: 3,
		FaultPhase: 50 * time.Second, MinEvents: 22,
		FuseClients: 5, RESTClients: 3, FilesPerClient: 5,
		HeavyFuseClients: 2, HeavyRESTClients: 1,
		GCGrace: 3 * time.Second, RepairInterval: 2 * time.Second,
		ConvergeTimeout: 90 * time.Second,
		GCDrainTimeout:  90 * time.Second,
		TmpfsMB:         128,
	}
}

// FaultResult is the checker's verdict.
type FaultResult struct {
	Seed        uint64
	Events      map[string]int
	OpsAcked    int
	CloseAcked  int // of OpsAcked: FUSE writes acknowledged by close() alone, without fsync
	OpsUnknown  int
	Verified    int
	Lost        int
	Corrupt     int
	Resurrected int
	Unexpected  int
	Crashes     int // nodes that exited without being killed
	Partial     int // files holding a prefix left by a failed (unacknowledged) write
	UploadTemps int // leftover .clusterf-upload-* temporaries of interrupted REST PUTs
	Conflicts   int // conflict copies of files one client owns (its ops are sequential: spurious)
	Converged   bool
	ConvergedIn time.Duration
	GC          GCTotals // garbage collection, dropped copies, compaction, disk use
	Problems    []string // one line per violation or anomaly
}

// GCTotals is what garbage collection did during a run (faults_gcmeter.go).
// The byte counters are sums over every node and every process incarnation
// of a node (a restarted node starts its counters at 0), from periodic
// scrapes of /api/metrics: bytes freed after an incarnation's last scrape
// and before a kill -9 are not seen, so they are lower bounds.
type GCTotals struct {
	Expected     bool  // delete-heavy clients ran: Reclaimed must be > 0
	Reclaimed    int64 // clusterf_gc_collected_bytes_total: stored bytes freed by garbage collection
	DuringFaults int64 // the part of Reclaimed scraped before the faults were healed
	Dropped      int64 // clusterf_dropped_copy_bytes_total: extra copies dropped
	CompactedOps int64 // clusterf_compacted_total{kind="log_ops"}
	GarbageLeft  int   // chunk files no file of the converged tree references, after the drain wait
	DrainedIn    time.Duration
	DiskPeak     int64 // largest sum of the nodes' data dirs sampled during the run
	DiskEnd      int64 // the sum at the end
}

// TotalEvents is the number of faults injected.
func (r FaultResult) TotalEvents() int {
	n := 0
	for _, c := range r.Events {
		n += c
	}
	return n
}

// OK reports whether every guarantee held.
func (r FaultResult) OK() bool {
	return r.Converged && r.Lost == 0 && r.Corrupt == 0 && r.Resurrected == 0 && r.Unexpected == 0 && r.Crashes == 0 &&
		(!r.GC.Expected || r.GC.Reclaimed > 0) && r.GC.GarbageLeft == 0
}

// Line is the one-line verdict.
func (r FaultResult) Line() string {
	var kinds []string
	for _, k := range FaultKinds {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, r.Events[k]))
	}
	conv := r.ConvergedIn.Round(100 * time.Millisecond).String()
	if !r.Converged {
		conv = "TIMEOUT"
	}
	g := r.GC
	return fmt.Sprintf("faults: seed=%d events=%d (%s) ops_acked=%d close_acked=%d ops_unknown=%d verified=%d lost=%d corrupt=%d resurrected=%d unexpected=%d crashes=%d partial=%d upload_temps=%d conflicts=%d converged_in=%s"+
		" reclaimed=%d reclaimed_during_faults=%d dropped=%d compacted_ops=%d garbage_left=%d gc_drained_in=%s disk_peak=%dMiB disk_end=%dMiB",
		r.Seed, r.TotalEvents(), strings.Join(kinds, " "), r.OpsAcked, r.CloseAcked, r.OpsUnknown, r.Verified, r.Lost, r.Corrupt, r.Resurrected, r.Unexpected, r.Crashes, r.Partial, r.UploadTemps, r.Conflicts, conv,
		g.Reclaimed, g.DuringFaults, g.Dropped, g.CompactedOps, g.GarbageLeft, g.DrainedIn.Round(100*time.Millisecond), g.DiskPeak>>20, g.DiskEnd>>20)
}
