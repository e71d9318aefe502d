package node

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clusterf/clusterf/api"
	"github.com/clusterf/clusterf/cluster"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
	"github.com/clusterf/clusterf/seqlog"
)

// The node's event log: what happened to the cluster as this node saw it
// (peers up and down, repair rounds, corrupt chunks, garbage collection
// waiting for a member, settings changed, conflicts created), numbered
// in a seqlog.Log like the change feed: a reader remembers the last one
// it handled and asks for what came after; the log keeps the latest
// eventLogSize, and a reader that fell further behind is told so.
// Namespace changes are not repeated here: they are the change feed
// (replica.FS.Changes); the dashboard's stream carries both.

// eventLogSize is how many events the log keeps.
const eventLogSize = 1024

type eventLog struct {
	*seqlog.Log[api.Event]

	mu    sync.Mutex           // guards since and reported
	since map[string]time.Time // member -> its latest state change
	epoch string
	// reported remembers conflicts already announced (by inode).
	reported map[crdt.InodeID]bool
}

func newEventLog() *eventLog {
	return &eventLog{Log: seqlog.New[api.Event](eventLogSize), since: map[string]time.Time{},
		epoch: strconv.FormatInt(time.Now().UnixNano(), 36), reported: map[crdt.InodeID]bool{}}
}

// add appends e (Seq and, when zero, Time are set) and wakes the waiters
// (Since and Wait are seqlog.Log's).
func (l *eventLog) add(e api.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.Level == "" {
		e.Level = "info"
	}
	switch e.Kind {
	case string(cluster.EventPeerUp), string(cluster.EventPeerUnreachable), string(cluster.EventPeerDown):
		l.mu.Lock()
		l.since[e.Node] = e.Time
		l.mu.Unlock()
	}
	l.Append(func(e *api.Event, seq uint64) { e.Seq = seq }, e)
}

// stateSince returns when the member's state last changed (zero: never seen).
func (l *eventLog) stateSince(id string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.since[id]
}

// firstReport reports whether the conflict of inode was not announced yet.
func (l *eventLog) firstReport(inode crdt.InodeID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reported[inode] {
		return false
	}
	if len(l.reported) > 10000 {
		clear(l.reported)
	}
	l.reported[inode] = true
	return true
}

// onClusterEvent turns a cluster event into a log entry (cluster.Config.OnEvent).
func (n *Node) onClusterEvent(e cluster.Event) {
	ev := api.Event{Kind: string(e.Kind), Node: string(e.Peer)}
	switch e.Kind {
	case cluster.EventPeerUp:
		ev.Message = string(e.Peer) + " is up"
	case cluster.EventPeerUnreachable:
		ev.Level, ev.Message = "warn", string(e.Peer)+" did not answer the last sync round: "+e.Err
	case cluster.EventPeerDown:
		ev.Level, ev.Message = "error", fmt.Sprintf("%s is down (no answer for %v): %s", e.Peer, n.downAfter(), e.Err)
		if e.Err == cluster.ErrPeerLeft.Error() {
			ev.Level, ev.Message = "warn", string(e.Peer)+" is down: it is shutting down"
		}
	case cluster.EventRepair:
		ev.Message, ev.Level = repairMessage(e.Repair)
	case cluster.EventCorrupt:
		ev.Level, ev.Message = "error", "the scrub found a corrupt copy of chunk "+e.Chunk.String()[:16]+"… and dropped it"
		if e.Repaired {
			ev.Level, ev.Message = "warn", ev.Message+"; a verified copy was fetched again"
		}
	case cluster.EventGCWaiting:
		ev.Level, ev.Message = "warn", "garbage collection and compaction wait for "+string(e.Peer)+
			" (no recent report from it); if it is gone for good: clusterf forget-node "+string(e.Peer)
		if e.Peer == "" {
			ev.Level, ev.Message = "info", "garbage collection and compaction no longer wait for a member"
		}
	default:
		ev.Message = string(e.Kind)
	}
	n.dash.events.add(ev)
}

func (n *Node) downAfter() time.Duration {
	d := n.cfg.SyncInterval
	if d <= 0 {
		d = 2 * time.Second
	}
	return 4 * d
}

// repairMessage describes a repair round in words.
func repairMessage(st *cluster.RepairStats) (msg, level string) {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(st.Fetched, "chunks fetched")
	add(st.Dropped, "extra copies dropped")
	add(st.Collected, "unreferenced chunks collected")
	add(st.Corrupt, "corrupt copies found")
	add(st.Errors, "errors")
	level = "info"
	if st.Errors > 0 || st.Corrupt > 0 {
		level = "warn"
	}
	return "repair round: " + strings.Join(parts, ", ") + fmt.Sprintf(" (%v)", st.Duration.Round(time.Millisecond)), level
}

// followFeed turns settings changes and conflicts created by remote ops
// into events, until ctx ends.
func (n *Node) followFeed(ctx context.Context) {
	feed := n.FS.Changes()
	_ = feed.Follow(ctx, feed.Last(), func(cs []replica.Change, missed bool) error {
		var evs []api.Event
		_ = n.Meta.View(func(v *crdt.View) error {
			for i := range cs {
				if ev, ok := n.changeEvent(v, &cs[i]); ok {
					evs = append(evs, ev)
				}
			}
			return nil
		})
		for _, ev := range evs {
			n.dash.events.add(ev)
		}
		return nil
	})
}

// changeEvent describes a setting change or a conflict a change created.
func (n *Node) changeEvent(v *crdt.View, c *replica.Change) (api.Event, bool) {
	by := string(c.Origin)
	switch c.Kind {
	case replica.ChangeSetting:
		return settingEvent(v, c.Name, by)
	case replica.ChangeCreated, replica.ChangeMoved:
		if !c.Remote || len(v.NameClash(c.Parent, c.Name)) < 2 || !n.dash.events.firstReport(c.Dentry) {
			return api.Event{}, false
		}
		p := childPath(v, c.Parent, c.Name)
		return api.Event{Kind: "conflict", Level: "warn", Node: by, Path: p,
			Message: p + ": two members created this name concurrently; both are kept, the later one under the name, the other as a conflict copy"}, true
	case replica.ChangeWritten:
		vs := v.Versions(c.Inode)
		if !c.Remote || len(vs) < 2 || !n.dash.events.firstReport(c.Inode) {
			return api.Event{}, false
		}
		var who []string
		for _, x := range vs {
			who = append(who, string(x.ID.Node))
		}
		p := ""
		if ds := v.LiveDentries(c.Inode); len(ds) > 0 {
			p, _ = v.Path(ds[0])
		}
		return api.Event{Kind: "conflict", Level: "warn", Node: by, Path: p,
			Message: fmt.Sprintf("%s: concurrent writes on %s; the latest is shown, the others are kept as conflict copies", p, strings.Join(who, " and "))}, true
	}
	return api.Event{}, false
}

// childPath is the display path of name in dir.
func childPath(v *crdt.View, dir crdt.InodeID, name string) string {
	p, ok := v.Path(dir)
	if !ok {
		return name
	}
	return strings.TrimSuffix(p, "/") + "/" + name
}

// settingEvent describes a cluster setting change.
func settingEvent(v *crdt.View, key, by string) (api.Event, bool) {
	b, ok := v.Setting(key)
	var x int
	isInt := ok && crdt.DecodeValue(b, &x) == nil
	ev := api.Event{Kind: "setting", Node: by}
	switch {
	case key == crdt.SettingReplicationFactor && isInt:
		ev.Kind, ev.Message = "replication_factor", fmt.Sprintf("replication factor set to %d by %s", x, by)
	case key == crdt.SettingPartitionSyncInterval && isInt:
		ev.Message = fmt.Sprintf("partition sync interval set to %d s by %s", x, by)
	case strings.HasPrefix(key, crdt.SettingMemberPrefix):
		var rec cluster.MemberRecord
		if !ok || crdt.DecodeValue(b, &rec) != nil {
			return api.Event{}, false
		}
		role := "storage member"
		if rec.NoStore {
			role = "client (stores nothing)"
		}
		id := strings.TrimPrefix(key, crdt.SettingMemberPrefix)
		ev.Node, ev.Message = id, id+" joined as a "+role
	case strings.HasPrefix(key, cluster.SettingForgottenPrefix):
		id := strings.TrimPrefix(key, cluster.SettingForgottenPrefix)
		ev.Level, ev.Node, ev.Message = "warn", id, id+" was forgotten by "+by+" (forget-node): it must start with an empty data dir to rejoin"
	default:
		ev.Message = "setting " + key + " changed by " + by
	}
	return ev, true
}
