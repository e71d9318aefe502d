package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clusterf/clusterf/api"
	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/cluster"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/placement"
)

// dashState is the node's state behind the web dashboard's endpoints
// (api.Dashboard): the event log, the metric history, a short-lived cache
// of the members' own accounts.
type dashState struct {
	events    *eventLog
	history   *history
	loginCode string // the one-time login link's code (with a token required)

	mu         sync.Mutex
	infos      []cluster.MemberInfo
	infosAt    time.Time
	infosCall  chan struct{}            // closed when the running refresh ends
	ctx        context.Context          // the node's run (background refreshes stop with it)
	rep        []cluster.PartitionState // the replication report as the members table last used it
	repAt      time.Time
	repRunning bool
}

func newDashState() *dashState { return &dashState{events: newEventLog(), history: newHistory()} }

// dashboardView implements api.Dashboard for a node.
type dashboardView Node

var _ api.Dashboard = (*dashboardView)(nil)

func (d *dashboardView) node() *Node { return (*Node)(d) }

func (d *dashboardView) Events(after uint64, max int) ([]api.Event, bool) {
	return d.dash.events.Since(after, max)
}

func (d *dashboardView) LastEvent() uint64 { return d.dash.events.Last() }

func (d *dashboardView) WaitEvents(ctx context.Context, after uint64) error {
	return d.dash.events.Wait(ctx, after)
}

func (d *dashboardView) Epoch() string { return d.dash.events.epoch }

func (d *dashboardView) MetricsHistory() api.MetricsHistory { return d.dash.history.snapshot() }

func (d *dashboardView) PeerVectors() []api.PeerVector {
	n := d.node()
	vvs := n.Cluster.PeerVectors()
	var out []api.PeerVector
	for _, p := range n.Cluster.Peers() {
		pv := api.PeerVector{NodeID: string(p.ID), Up: p.Up, Behind: p.Behind, Vector: map[string]uint64{}}
		for o, s := range vvs[p.ID] {
			pv.Vector[string(o)] = s
		}
		out = append(out, pv)
	}
	return out
}

// infosTTL bounds how stale the members' own accounts may be: asking
// every member is one RPC each, too much for every poll of a status page
// in a large cluster.
const infosTTL = 3 * time.Second

// memberInfos returns the members' own accounts. The first call asks
// them; later calls answer the latest accounts at once and refresh them
// in the background when they are older than infosTTL (one refresh at a
// time), so a member that stopped answering never delays a status page.
func (n *Node) memberInfos(ctx context.Context) []cluster.MemberInfo {
	ds := n.dash
	ds.mu.Lock()
	infos, stale, running := ds.infos, time.Since(ds.infosAt) >= infosTTL, ds.infosCall != nil
	if infos != nil {
		if stale && !running && ds.ctx != nil {
			done := make(chan struct{})
			ds.infosCall = done
			n.goFunc(func() { n.refreshInfos(ds.ctx, done) })
		}
		ds.mu.Unlock()
		return infos
	}
	if running {
		wait := ds.infosCall
		ds.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil
		}
		ds.mu.Lock()
		infos = ds.infos
		ds.mu.Unlock()
		return infos
	}
	done := make(chan struct{})
	ds.infosCall = done
	ds.mu.Unlock()
	n.refreshInfos(ctx, done)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.infos
}

// refreshInfos asks every member for its account and closes done.
func (n *Node) refreshInfos(ctx context.Context, done chan struct{}) {
	infos := n.Cluster.MemberInfos(ctx)
	ds := n.dash
	ds.mu.Lock()
	if ctx.Err() == nil || ds.infos == nil {
		ds.infos, ds.infosAt = infos, time.Now()
	}
	ds.infosCall = nil
	ds.mu.Unlock()
	close(done)
}

// dashReport returns the replication report for the members table: the
// latest one at once (refreshed in the background when older than
// reportTTL), so that a member that stopped answering, whose chunk/have
// call runs into its deadline, does not hold the table back.
func (n *Node) dashReport(ctx context.Context) ([]cluster.PartitionState, error) {
	ds := n.dash
	ds.mu.Lock()
	rep, stale := ds.rep, time.Since(ds.repAt) >= reportTTL
	if rep != nil {
		if stale && !ds.repRunning && ds.ctx != nil {
			ds.repRunning = true
			n.goFunc(func() {
				r, err := n.replicationReport(ds.ctx)
				ds.mu.Lock()
				if err == nil {
					ds.rep, ds.repAt = r, time.Now()
				}
				ds.repRunning = false
				ds.mu.Unlock()
			})
		}
		ds.mu.Unlock()
		return rep, nil
	}
	ds.mu.Unlock()
	r, err := n.replicationReport(ctx)
	if err != nil {
		return nil, err
	}
	ds.mu.Lock()
	ds.rep, ds.repAt = r, time.Now()
	ds.mu.Unlock()
	return r, nil
}

// selfInfo is this node's own account for cluster.Config.Info.
func (n *Node) selfInfo(ctx context.Context) cluster.MemberInfo {
	mi := cluster.MemberInfo{Version: n.cfg.Version, StartedAt: n.started}
	if u, err := n.Chunks.Usage(ctx); err == nil {
		mi.Chunks, mi.Bytes = u.Chunks, u.Bytes
	}
	if st, err := n.FS.Statfs(ctx); err == nil {
		mi.DiskFree, mi.DiskTotal = int64(st.Bavail)*int64(st.Bsize), int64(st.Blocks)*int64(st.Bsize)
	}
	return mi
}

func (d *dashboardView) Members(ctx context.Context) (api.MembersReport, error) {
	n := d.node()
	infos := n.memberInfos(ctx)
	rep, err := n.dashReport(ctx)
	if err != nil {
		return api.MembersReport{}, err
	}
	parts := map[string]int{}
	for _, p := range rep {
		for _, h := range p.Expected {
			parts[h]++
		}
	}
	peers := map[crdt.NodeID]cluster.PeerStatus{}
	for _, p := range n.Cluster.Peers() {
		peers[p.ID] = p
	}
	out := api.MembersReport{Self: string(n.ID), ReplicationFactor: n.Cluster.ReplicationFactor(), Partitions: n.Cluster.Partitions()}
	for _, mi := range infos {
		m := api.Member{NodeID: string(mi.ID), Self: mi.ID == n.ID, State: "up", NoStore: mi.NoStore, Version: mi.Version,
			StartedAt: mi.StartedAt, Chunks: mi.Chunks, Bytes: mi.Bytes, DiskFree: mi.DiskFree, DiskTotal: mi.DiskTotal,
			Partitions: parts[string(mi.ID)], Error: mi.Err, Links: []api.MemberLink{}, Since: n.dash.events.stateSince(string(mi.ID))}
		if m.Self {
			m.Since, m.LastSeen, m.HTTPPort, m.NoStore = n.started, time.Now(), n.httpPort, n.cfg.NoStore
		} else if p, ok := peers[mi.ID]; ok {
			m.Address, m.HTTPPort, m.LastSeen, m.LagOps = p.Addr, p.HTTPPort, p.LastSeen, p.Behind
			switch {
			case !p.Up:
				m.State = "down"
			case p.Error != "":
				m.State, m.Error = "unreachable", p.Error
			}
			if noStore, ok := n.memberRecord(mi.ID); ok && mi.Err != "" {
				m.NoStore = noStore
			}
		}
		for _, l := range mi.Peers {
			m.Links = append(m.Links, api.MemberLink{NodeID: string(l.ID), Up: l.Up, LastSeen: l.LastSeen, LagOps: l.Behind, Error: l.Error})
		}
		if len(mi.Traffic) > 0 {
			m.Fetched = map[string]api.Transfer{}
			for from, t := range mi.Traffic {
				m.Fetched[string(from)] = api.Transfer{Chunks: t.Chunks, Bytes: t.Bytes}
			}
		}
		out.Members = append(out.Members, m)
	}
	return out, nil
}

// memberRecord reads a member's published record (false: none).
func (n *Node) memberRecord(id crdt.NodeID) (noStore, ok bool) {
	_ = n.Meta.View(func(v *crdt.View) error {
		var b []byte
		if b, ok = v.Setting(crdt.SettingMemberPrefix + string(id)); ok {
			var rec cluster.MemberRecord
			ok = crdt.DecodeValue(b, &rec) == nil
			noStore = rec.NoStore
		}
		return nil
	})
	return noStore, ok
}

// storageMembersKnown lists every member known to store data, up or not
// (placement over all of them says where a partition belongs when every
// member is up).
func (n *Node) storageMembersKnown() []string {
	var out []string
	if !n.cfg.NoStore {
		out = append(out, string(n.ID))
	}
	for _, p := range n.Cluster.Peers() {
		if noStore, ok := n.memberRecord(p.ID); !ok || !noStore {
			out = append(out, string(p.ID))
		}
	}
	slices.Sort(out)
	return out
}

// shortReason says why partition part has fewer complete holders than
// wanted: too few storage members up, a holder that is down (its copies
// are being made elsewhere), a holder whose disk is full, or a repair
// in progress (a holder is fetching).
func (n *Node) shortReason(part int, complete, expected []string, want int) string {
	pl := n.Cluster.Placement()
	if len(pl.Members) < pl.RF {
		return fmt.Sprintf("only %d storage members are up (replication factor %d)", len(pl.Members), pl.RF)
	}
	up := map[string]bool{}
	for _, m := range pl.Members {
		up[m] = true
	}
	var down []string
	for _, h := range placement.Holders(part, n.storageMembersKnown(), pl.RF) {
		if !up[h] {
			down = append(down, h)
		}
	}
	var lacking []string
	for _, h := range expected {
		if !slices.Contains(complete, h) {
			lacking = append(lacking, h)
		}
	}
	if len(down) > 0 {
		return fmt.Sprintf("holder %s is down; repair is copying its data to %s", strings.Join(down, ", "), strings.Join(lacking, ", "))
	}
	n.dash.mu.Lock()
	infos := n.dash.infos
	n.dash.mu.Unlock()
	for _, mi := range infos {
		if slices.Contains(lacking, string(mi.ID)) && mi.DiskTotal > 0 && mi.DiskFree < diskFullBytes {
			return fmt.Sprintf("holder %s has no disk space left (%d MiB free)", mi.ID, mi.DiskFree>>20)
		}
	}
	if len(lacking) == 0 {
		return "repair in progress"
	}
	return "repair in progress: " + strings.Join(lacking, ", ") + " fetching"
}

// diskFullBytes: a holder with less free space cannot take chunks.
const diskFullBytes = 64 << 20

func (d *dashboardView) Placement(ctx context.Context, ids []chunk.ID) ([]api.ChunkPlacement, error) {
	n := d.node()
	pl := n.Cluster.Placement()
	out := make([]api.ChunkPlacement, len(ids))
	byHolder := map[string][]int{}
	for i, id := range ids {
		part := placement.Partition(id, pl.Partitions)
		hs := pl.Holders(id)
		out[i] = api.ChunkPlacement{ChunkID: id.String(), Partition: part, Holders: nonNil(hs), Verified: []string{}, Want: pl.RF}
		for _, h := range hs {
			byHolder[h] = append(byHolder[h], i)
		}
	}
	for h, idx := range byHolder {
		q := make([]chunk.ID, len(idx))
		for k, i := range idx {
			q[k] = ids[i]
		}
		have, err := n.Cluster.HolderHas(ctx, h, q)
		if err != nil {
			continue // down or unreachable: not counted
		}
		for k, ok := range have {
			if ok {
				out[idx[k]].Verified = append(out[idx[k]].Verified, h)
			}
		}
	}
	for i := range out {
		slices.Sort(out[i].Verified)
		if len(out[i].Verified) < out[i].Want {
			out[i].Reason = n.shortReason(out[i].Partition, out[i].Verified, out[i].Holders, out[i].Want)
		}
	}
	return out, nil
}
