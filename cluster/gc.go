package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

// Garbage collection and compaction trust only what every member has
// proved. The rule (docs/reliability.md, "Chunk lifecycle"):
//
// A stored chunk c first seen unreferenced in GC round r is collected when
//
//  1. it is still unreferenced in a fresh look at the metadata just before
//     the delete, and this node has no local op that is not durable yet;
//  2. GCGrace has passed since round r;
//  3. every known member m (member records, and peers we talk to, minus
//     forgotten ones) has given a complete report (a pull that left
//     nothing more to fetch) whose request was sent after round r began,
//     whose version vector covers this node's at round r (so m has seen
//     whatever made c unreferenced), and whose pinned set does not hold c;
//  4. the keeper finds c neither pinned nor pinned, unpinned or stored
//     again since round r (Keeper.Collect with round r's epoch).
//
// A member that is down blocks collection until it is back or forgotten.
//
// Compaction uses the same reports: stable = the minimum of our version
// vector and every member's complete-report vector.

// memberReport is what a complete pull round from a member proved.
type memberReport struct {
	at       time.Time // when the request of the round's last batch was sent
	vv       crdt.VersionVector
	pins     map[chunk.ID]struct{}
	overflow bool // too many pins to list: everything counts as pinned
}

// gcState is the collector's memory (guarded by Cluster.repairMu).
type gcState struct {
	rounds []gcRound           // rounds still named by unref, oldest first
	unref  map[chunk.ID]uint64 // chunk -> seq of the round it was first seen unreferenced in
	next   uint64              // next round seq
	stable crdt.VersionVector  // last vector passed to Compact
	seen   map[crdt.NodeID]time.Time
	// scrubAt is where the next scrub starts (repair.go).
	scrubAt chunk.ID
}

type gcRound struct {
	seq   uint64
	epoch uint64 // keeper epoch read before the round looked at metadata
	at    time.Time
	vv    crdt.VersionVector
}

// beginGCRound starts a round: the keeper epoch first, then the vector,
// then (by the caller) the referenced set.
func (c *Cluster) beginGCRound() gcRound {
	r := gcRound{seq: c.gc.next, epoch: c.cfg.Chunks.Epoch(), at: time.Now(), vv: c.cfg.Meta.VersionVector()}
	c.gc.next++
	c.gc.rounds = append(c.gc.rounds, r)
	return r
}

func (c *Cluster) round(seq uint64) (gcRound, bool) {
	i := sort.Search(len(c.gc.rounds), func(i int) bool { return c.gc.rounds[i].seq >= seq })
	if i < len(c.gc.rounds) && c.gc.rounds[i].seq == seq {
		return c.gc.rounds[i], true
	}
	return gcRound{}, false
}

// knownMembers lists every member but us that may still add references
// or ops: member records and peers, minus forgotten nodes.
func (c *Cluster) knownMembers() []crdt.NodeID {
	set := map[crdt.NodeID]bool{}
	var forgotten map[string][]byte
	_ = c.cfg.Meta.View(func(v *crdt.View) error {
		for k := range v.Settings(crdt.SettingMemberPrefix) {
			set[crdt.NodeID(strings.TrimPrefix(k, crdt.SettingMemberPrefix))] = true
		}
		forgotten = v.Settings(SettingForgottenPrefix)
		return nil
	})
	c.mu.Lock()
	for id := range c.peers {
		set[id] = true
	}
	c.mu.Unlock()
	delete(set, c.cfg.Self)
	out := make([]crdt.NodeID, 0, len(set))
	for id := range set {
		if _, gone := forgotten[SettingForgottenPrefix+string(id)]; !gone {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// reports returns the latest complete report of each member (nil where
// there is none).
func (c *Cluster) reports(members []crdt.NodeID) map[crdt.NodeID]*memberReport {
	out := make(map[crdt.NodeID]*memberReport, len(members))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range members {
		if p := c.peers[id]; p != nil {
			out[id] = p.report
		} else {
			out[id] = nil
		}
	}
	return out
}

// gcVerdict says, for one round, whether its chunks may go (and if not,
// which member holds them back).
type gcVerdict struct {
	ready   bool
	waitFor crdt.NodeID
	reps    []*memberReport
}

func (c *Cluster) verdict(r gcRound, members []crdt.NodeID, reps map[crdt.NodeID]*memberReport, now time.Time) gcVerdict {
	if now.Sub(r.at) < c.cfg.GCGrace {
		return gcVerdict{}
	}
	v := gcVerdict{ready: true}
	for _, m := range members {
		rep := reps[m]
		if rep == nil || !rep.at.After(r.at) || !covers(rep.vv, r.vv) || rep.overflow {
			return gcVerdict{waitFor: m}
		}
		v.reps = append(v.reps, rep)
	}
	return v
}

func (v gcVerdict) pinned(id chunk.ID) bool {
	for _, rep := range v.reps {
		if _, ok := rep.pins[id]; ok {
			return true
		}
	}
	return false
}

// collectGarbage decides and deletes, for the unreferenced chunks found in
// this round (round cur), and forgets what no longer needs remembering.
// stored is every chunk seen in the store this round.
func (c *Cluster) collectGarbage(ctx context.Context, cur gcRound, garbage []chunk.ID, st *RepairStats) {
	members := c.knownMembers()
	reps := c.reports(members)
	now := time.Now()
	verdicts := map[uint64]gcVerdict{}
	byRound := map[uint64][]chunk.ID{}
	for _, id := range garbage {
		seq, ok := c.gc.unref[id]
		if !ok {
			c.gc.unref[id] = cur.seq
			continue
		}
		v, ok := verdicts[seq]
		if !ok {
			r, _ := c.round(seq)
			v = c.verdict(r, members, reps, now)
			verdicts[seq] = v
			if !v.ready && v.waitFor != "" {
				st.WaitingFor = v.waitFor
			}
		}
		if v.ready && !v.pinned(id) {
			byRound[seq] = append(byRound[seq], id)
		}
	}
	if len(byRound) > 0 {
		// Look again, just before deleting: anything referenced now stays.
		// The state looked at must show nothing a crash could take back (a
		// local delete still in the journal): make what is pending durable
		// first, and give up this round if a new local op came meanwhile.
		if err := c.cfg.Meta.Sync(ctx); err != nil {
			st.Errors++
		}
		refs := c.referencedSet()
		if !c.cfg.Meta.AllDurable() {
			c.trimRounds(cur)
			return
		}
		for seq, ids := range byRound {
			r, _ := c.round(seq)
			var still []chunk.ID
			for _, id := range ids {
				if !refs[id] {
					still = append(still, id)
				}
			}
			res, err := c.cfg.Chunks.Collect(ctx, still, r.epoch)
			if err != nil {
				st.Errors++
				c.log.Warn("garbage collection failed", "err", err)
			}
			for _, id := range res.Deleted {
				delete(c.gc.unref, id)
			}
			for _, id := range res.Busy {
				c.gc.unref[id] = cur.seq // touched since: the clock starts again
			}
			st.Collected += len(res.Deleted)
			st.CollectedBytes += res.Bytes
		}
	}
	c.trimRounds(cur)
}

// trimRounds drops rounds no chunk names any more and lets the keeper
// forget what happened before the oldest one still needed.
func (c *Cluster) trimRounds(cur gcRound) {
	oldest := cur.seq
	for _, seq := range c.gc.unref {
		oldest = min(oldest, seq)
	}
	i := sort.Search(len(c.gc.rounds), func(i int) bool { return c.gc.rounds[i].seq >= oldest })
	c.gc.rounds = append([]gcRound(nil), c.gc.rounds[i:]...)
	if len(c.gc.rounds) > 0 {
		c.cfg.Chunks.Forget(c.gc.rounds[0].epoch)
	}
}

// referencedSet is every chunk live metadata references.
func (c *Cluster) referencedSet() map[chunk.ID]bool {
	out := map[chunk.ID]bool{}
	_ = c.cfg.Meta.View(func(v *crdt.View) error {
		v.ChunkRefs(func(id crdt.ChunkID) { out[chunk.ID(id)] = true })
		return nil
	})
	return out
}

// compact drops op logs, move-log entries and tombstones every member has
// seen (crdt.Replica.Compact) once the stable vector advanced.
func (c *Cluster) compact(st *RepairStats) {
	members := c.knownMembers()
	reps := c.reports(members)
	vvs := []crdt.VersionVector{c.cfg.Meta.VersionVector()}
	for _, m := range members {
		rep := reps[m]
		if rep == nil {
			st.WaitingFor = m
			return
		}
		vvs = append(vvs, rep.vv)
	}
	stable := crdt.Min(vvs...)
	if c.gc.stable != nil && !advanced(stable, c.gc.stable) {
		return
	}
	cs := c.cfg.Meta.Compact(stable)
	c.gc.stable = stable
	st.Compacted = cs
	if cs != (crdt.CompactStats{}) {
		c.log.Debug("compacted metadata", "ops", cs.Ops, "moves", cs.Moves, "tombstones", cs.Tombstones, "inodes", cs.Inodes)
	}
}

// advanced reports whether a has an entry above b's.
func advanced(a, b crdt.VersionVector) bool {
	for n, s := range a {
		if s > b[n] {
			return true
		}
	}
	return false
}

// ---- forgetting members ----

// SettingForgottenPrefix + node id marks a member that was removed for
// good (`clusterf forget-node`): it no longer holds back garbage
// collection or compaction, and no member talks to it again.
const SettingForgottenPrefix = "forgotten/"

// forgotten reports whether id was forgotten.
func (c *Cluster) forgotten(id crdt.NodeID) bool {
	gone := false
	_ = c.cfg.Meta.View(func(v *crdt.View) error {
		_, gone = v.Setting(SettingForgottenPrefix + string(id))
		return nil
	})
	return gone
}

// Forget removes a member for good: garbage collection and compaction stop
// waiting for it and every member refuses it from now on (it must start
// again with an empty data dir). A member that is up cannot be forgotten.
func (c *Cluster) Forget(id crdt.NodeID) error {
	if id == c.cfg.Self {
		return fmt.Errorf("forget %s: %w: %w", id, errForgetSelf, crdt.ErrInvalid)
	}
	if !crdt.ValidNodeID(id) {
		return fmt.Errorf("forget %q: %w", id, crdt.ErrInvalid)
	}
	c.mu.Lock()
	p := c.peers[id]
	up := p != nil && p.up
	c.mu.Unlock()
	if up {
		return fmt.Errorf("forget %s: %w", id, errForgetUp)
	}
	known := false
	for _, m := range c.knownMembers() {
		known = known || m == id
	}
	if !known && !c.forgotten(id) {
		return fmt.Errorf("forget %s: no such member: %w", id, crdt.ErrNotFound)
	}
	val := crdt.EncodeValue(time.Now().UTC().Format(time.RFC3339))
	if _, err := c.cfg.Meta.Update(func(tx *crdt.Tx) error { return tx.SetSetting(SettingForgottenPrefix+string(id), val) }); err != nil {
		return fmt.Errorf("forget %s: %w", id, err)
	}
	c.mu.Lock()
	if p != nil {
		if p.stop != nil {
			p.stop()
		}
		delete(c.peers, id)
	}
	c.mu.Unlock()
	c.log.Warn("member forgotten: it no longer holds back garbage collection and will be refused if it comes back", "peer", id)
	c.Changed()
	c.KickRepair()
	return nil
}

// forgetStale forgets members not seen for ForgetAfter since this node
// started (off by default).
func (c *Cluster) forgetStale(now time.Time) {
	if c.cfg.ForgetAfter <= 0 {
		return
	}
	if c.gc.seen == nil {
		c.gc.seen = map[crdt.NodeID]time.Time{}
	}
	for _, m := range c.knownMembers() {
		c.mu.Lock()
		p := c.peers[m]
		if p != nil && !p.lastOK.IsZero() {
			c.gc.seen[m] = p.lastOK
		}
		c.mu.Unlock()
		last, ok := c.gc.seen[m]
		if !ok {
			last = c.started
		}
		if now.Sub(last) >= c.cfg.ForgetAfter {
			if err := c.Forget(m); err == nil {
				c.log.Warn("forgot a member that was away too long", "peer", m, "away", now.Sub(last).Round(time.Second), "forget_after", c.cfg.ForgetAfter)
			}
		}
	}
}
