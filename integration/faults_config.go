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
	faultInlineMax  = 4 << 10 // replica.DefaultInlineMax: smaller files have no chunks
)

// FaultConfig configures [RunFaults].
type FaultConfig struct {
	Seed            uint64
	Nodes           int           // storage nodes (5)
	RF              int           // replication factor (3); at most RF-1 nodes are impaired at once
	FaultPhase      time.Duration // the nemesis runs at least this long…
	MinEvents       int           // …and until it injected this many faults
	FuseClients     int           // clients writing through FUSE mounts (node i%Nodes)
	RESTClients     int           // clients writing through REST (node (FuseClients+i)%Nodes)
	FilesPerClient  int
	ConvergeTimeout time.Duration
	TmpfsMB         int // >0: the last node's data dir is a tmpfs of this size ("disk" faults fill it)
}

// DefaultFaultConfig is the short (CI) configuration.
func DefaultFaultConfig(seed uint64) FaultConfig {
	return FaultConfig{
		Seed: seed, Nodes: 5, RF: 3,
		FaultPhase: 50 * time.Second, MinEvents: 22,
		FuseClients: 5, RESTClients: 3, FilesPerClient: 5,
		ConvergeTimeout: 90 * time.Second,
		TmpfsMB:         128,
	}
}

// FaultResult is the checker's verdict.
type FaultResult struct {
	Seed        uint64
	Events      map[string]int
	OpsAcked    int
	OpsUnknown  int
	Verified    int
	Lost        int
	Corrupt     int
	Resurrected int
	Unexpected  int
	Crashes     int // nodes that exited without being killed
	Partial     int // files holding a prefix left by a failed (unacknowledged) write
	UploadTemps int // leftover .clusterf-upload-* temporaries of interrupted REST PUTs
	Converged   bool
	ConvergedIn time.Duration
	Problems    []string // one line per violation or anomaly
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
	return r.Converged && r.Lost == 0 && r.Corrupt == 0 && r.Resurrected == 0 && r.Unexpected == 0 && r.Crashes == 0
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
	return fmt.Sprintf("faults: seed=%d events=%d (%s) ops_acked=%d ops_unknown=%d verified=%d lost=%d corrupt=%d resurrected=%d unexpected=%d crashes=%d partial=%d upload_temps=%d converged_in=%s",
		r.Seed, r.TotalEvents(), strings.Join(kinds, " "), r.OpsAcked, r.OpsUnknown, r.Verified, r.Lost, r.Corrupt, r.Resurrected, r.Unexpected, r.Crashes, r.Partial, r.UploadTemps, conv)
}
