package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/placement"
)

// Replication: every referenced chunk lives on the RF holders of its
// partition (placement.Holders over the live storage members). A commit's
// chunks go to every holder at once, as a chain (Replicate: the writer
// sends each chunk once, to the first holder, which stores it and passes
// it on to the next while the writer goes on); Replicate returns once
// min(RF, 2) copies are durable, which is what fsync waits for. A repair
// loop per node pulls what its partitions lack, and drops copies it no
// longer holds only after every current holder confirmed them.

// More RPC methods.
const (
	methodChunkPut  = "chunk/put"  // putRequest -> putResponse
	methodChunkHave = "chunk/have" // haveRequest -> haveResponse
)

// Setting defaults.
const (
	DefaultReplicationFactor = 3
	DefaultPartitions        = 1024
	DefaultSyncInterval      = 30 // seconds, partition anti-entropy
)

// MemberRecord is what each node publishes about itself in the cluster
// settings ("member/<id>").
type MemberRecord struct {
	NoStore bool `cbor:"1,keyasint"`
}

type putRequest struct {
	ID   chunk.ID `cbor:"1,keyasint"`
	Blob []byte   `cbor:"2,keyasint"`
	// Forward lists the holders to pass the chunk on to, in order (the
	// chain's rest); Need is how many durable copies, this one included,
	// must exist before the answer (0: 1); the others follow in the
	// background.
	Forward []string `cbor:"3,keyasint,omitempty"`
	Need    int      `cbor:"4,keyasint,omitempty"`
}

// putResponse says how many durable copies the put made before answering
// (this holder's and the chain's; an empty answer, from an older node, is 1).
type putResponse struct {
	Stored int `cbor:"1,keyasint"`
}

// maxForward bounds a chain (a put's Forward list).
const maxForward = 16

type haveRequest struct {
	IDs []chunk.ID `cbor:"1,keyasint"`
}

type haveResponse struct {
	Have []bool `cbor:"1,keyasint"`
}

// maxHaveBatch bounds one chunk/have request.
const maxHaveBatch = 8192

// bulkTimeout bounds one chunk transfer (16 MiB at worst).
const bulkTimeout = 60 * time.Second

// call is Transport.Call with a deadline, so that a peer that died without
// closing its connections fails the call quickly instead of after QUIC's
// idle timeout.
func (c *Cluster) call(ctx context.Context, timeout time.Duration, addr, peer, method string, req []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.cfg.Transport.Call(ctx, addr, peer, method, req)
}

// intSetting reads a positive integer cluster setting.
func (c *Cluster) intSetting(key string, def int) int {
	v := def
	_ = c.cfg.Meta.View(func(view *crdt.View) error {
		if b, ok := view.Setting(key); ok {
			var x int
			if crdt.DecodeValue(b, &x) == nil && x > 0 {
				v = x
			}
		}
		return nil
	})
	return v
}

// ReplicationFactor returns the cluster's replication factor setting.
func (c *Cluster) ReplicationFactor() int {
	return c.intSetting(crdt.SettingReplicationFactor, DefaultReplicationFactor)
}

// Partitions returns the number of partitions (fixed at cluster creation).
func (c *Cluster) Partitions() int { return c.intSetting(crdt.SettingPartitions, DefaultPartitions) }

// SyncInterval returns the partition anti-entropy interval.
func (c *Cluster) SyncInterval() time.Duration {
	return time.Duration(c.intSetting(crdt.SettingPartitionSyncInterval, DefaultSyncInterval)) * time.Second
}

// noStoreMembers lists the members whose record says they store nothing.
func (c *Cluster) noStoreMembers() map[crdt.NodeID]bool {
	out := map[crdt.NodeID]bool{}
	_ = c.cfg.Meta.View(func(v *crdt.View) error {
		for k, b := range v.Settings(crdt.SettingMemberPrefix) {
			var rec MemberRecord
			if crdt.DecodeValue(b, &rec) == nil && rec.NoStore {
				out[crdt.NodeID(k[len(crdt.SettingMemberPrefix):])] = true
			}
		}
		return nil
	})
	return out
}

// StorageMembers lists the live members that store data (this node unless
// it is a client), sorted.
func (c *Cluster) StorageMembers() []string {
	noStore := c.noStoreMembers()
	var out []string
	if !c.cfg.NoStore {
		out = append(out, string(c.cfg.Self))
	}
	c.mu.Lock()
	for id, p := range c.peers {
		if p.up && !noStore[id] {
			out = append(out, string(id))
		}
	}
	c.mu.Unlock()
	sort.Strings(out)
	return out
}

// Placement is a snapshot of what placement decisions need.
type Placement struct {
	Members    []string
	RF         int
	Partitions int
}

// Placement returns the current placement inputs.
func (c *Cluster) Placement() Placement {
	return Placement{Members: c.StorageMembers(), RF: c.ReplicationFactor(), Partitions: c.Partitions()}
}

// Holders returns the holders of the chunk's partition.
func (p Placement) Holders(id chunk.ID) []string {
	return placement.Holders(placement.Partition(id, p.Partitions), p.Members, p.RF)
}

// peerAddr returns the address of a live peer.
func (c *Cluster) peerAddr(id string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.peers[crdt.NodeID(id)]
	if p == nil || !p.up {
		return "", false
	}
	return p.addr, true
}

// Replicate makes every chunk durable on min(RF, 2) of its holders before
// the write that made them is acknowledged. The local copy counts when this
// node is a holder. With fewer reachable holders the write succeeds on the
// copies it got (at least one durable copy somewhere, the local one
// included) and the partition shows as under-replicated until repaired.
func (c *Cluster) Replicate(ctx context.Context, ids []chunk.ID) error {
	pl := c.Placement()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 4)
	)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.replicateOne(ctx, pl, id); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Cluster) replicateOne(ctx context.Context, pl Placement, id chunk.ID) error {
	holders := pl.Holders(id)
	need := min(pl.RF, 2, max(len(holders), 1))
	have := 0
	var targets []string
	for _, h := range holders {
		if h == string(c.cfg.Self) {
			// The local copy counts once its bytes verify (the commit that
			// stored it did; else this reads and checks it).
			if ok, err := c.cfg.Chunks.Present(ctx, id, nil); err != nil {
				return fmt.Errorf("replicate %s: check local copy: %w", id, err)
			} else if ok {
				have++
			}
			continue
		}
		targets = append(targets, h)
	}
	if len(targets) == 0 {
		return nil
	}
	blob, err := c.cfg.Chunks.Get(ctx, id) // the receivers verify it
	if err != nil {
		return fmt.Errorf("replicate %s: read local copy: %w", id, err)
	}
	got, err := c.pushChain(ctx, id, blob, targets, need-have)
	have += got
	if have == 0 && c.cfg.NoStore { // a client's copy is only cache
		return fmt.Errorf("replicate %s: no holder reachable: %w", id, err)
	}
	if have < need {
		c.log.Debug("chunk under-replicated after write", "chunk", id, "copies", have, "want", need, "err", err)
	}
	return nil
}

// pushChain sends blob to the first reachable target, which stores it and
// passes it on along the rest; it returns once need copies are durable
// (or no more could be made), with how many were. If the chain falls
// short, the targets after its head get single copies until need is met.
// Every target gets a copy eventually unless one fails (repair fills in).
func (c *Cluster) pushChain(ctx context.Context, id chunk.ID, blob []byte, targets []string, need int) (int, error) {
	var errs []error
	stored := 0
	for len(targets) > 0 && (stored == 0 || stored < need) {
		h, rest := targets[0], targets[1:]
		targets = rest
		addr, ok := c.peerAddr(h)
		if !ok {
			continue
		}
		req := putRequest{ID: id, Blob: blob, Need: max(need-stored, 1)}
		if stored == 0 { // the head carries the chain
			req.Forward = rest[:min(len(rest), maxForward)]
		}
		raw, err := c.call(ctx, bulkTimeout, addr, h, methodChunkPut, encode(req))
		if err != nil {
			errs = append(errs, fmt.Errorf("put %s on %s: %w", id, h, err))
			continue
		}
		n := 1
		var resp putResponse
		if len(raw) > 0 && decode(raw, &resp) == nil && resp.Stored > 0 {
			n = min(resp.Stored, 1+len(req.Forward))
		}
		stored += n
	}
	return stored, errors.Join(errs...)
}

// handlePut stores a chunk pushed by a peer after verifying it, and passes
// it on along the chain (Forward): synchronously while more durable copies
// are needed before answering, else in the background.
func (c *Cluster) handlePut(ctx context.Context, req []byte) ([]byte, error) {
	if c.cfg.NoStore {
		return nil, errors.New("client node stores no chunks")
	}
	var r putRequest
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	if _, err := chunk.Decode(r.ID, r.Blob); err != nil {
		return nil, fmt.Errorf("refusing chunk: %w", err)
	}
	// Put replaces a corrupt local copy and restarts the chunk's garbage
	// clock: the writer pins it until its metadata op is out (gc.go).
	if err := c.cfg.Chunks.Put(ctx, r.ID, r.Blob); err != nil {
		return nil, err
	}
	var fwd []string
	for _, h := range r.Forward {
		if h != string(c.cfg.Self) && !slices.Contains(fwd, h) && len(fwd) < maxForward {
			fwd = append(fwd, h)
		}
	}
	stored := 1
	if len(fwd) > 0 {
		if r.Need > 1 {
			n, _ := c.pushChain(ctx, r.ID, r.Blob, fwd, r.Need-1)
			stored += n
		} else {
			c.fwd.later(c, ctx, r.ID, r.Blob, fwd)
		}
	}
	return encode(putResponse{Stored: stored}), nil
}

// haveBudget bounds the stored bytes one chunk/have answer reads to verify
// copies not verified since start; beyond it they count as absent.
const haveBudget = 256 << 20

func (c *Cluster) handleHave(ctx context.Context, req []byte) ([]byte, error) {
	var r haveRequest
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	if len(r.IDs) > maxHaveBatch {
		return nil, fmt.Errorf("chunk/have: %d ids, max %d", len(r.IDs), maxHaveBatch)
	}
	resp := haveResponse{Have: make([]bool, len(r.IDs))}
	budget := int64(haveBudget)
	for i, id := range r.IDs {
		ok, err := c.cfg.Chunks.Present(ctx, id, &budget)
		if err != nil {
			return nil, err
		}
		resp.Have[i] = ok
	}
	return encode(resp), nil
}

// peerHas asks a peer which of ids it stores.
func (c *Cluster) peerHas(ctx context.Context, peerID string, ids []chunk.ID) ([]bool, error) {
	addr, ok := c.peerAddr(peerID)
	if !ok {
		return nil, fmt.Errorf("peer %s is down", peerID)
	}
	out := make([]bool, 0, len(ids))
	for start := 0; start < len(ids); start += maxHaveBatch {
		batch := ids[start:min(start+maxHaveBatch, len(ids))]
		raw, err := c.call(ctx, c.cfg.DownAfter/2, addr, peerID, methodChunkHave, encode(haveRequest{IDs: batch}))
		if err != nil {
			return nil, err
		}
		var resp haveResponse
		if err := decode(raw, &resp); err != nil {
			return nil, err
		}
		if len(resp.Have) != len(batch) {
			return nil, fmt.Errorf("peer %s answered %d of %d", peerID, len(resp.Have), len(batch))
		}
		out = append(out, resp.Have...)
	}
	return out, nil
}

// referenced returns every chunk referenced by metadata, by partition.
func (c *Cluster) referenced(parts int) map[int][]chunk.ID {
	seen := map[chunk.ID]bool{}
	out := map[int][]chunk.ID{}
	_ = c.cfg.Meta.View(func(v *crdt.View) error {
		v.ChunkRefs(func(id crdt.ChunkID) {
			cid := chunk.ID(id)
			if !seen[cid] {
				seen[cid] = true
				p := placement.Partition(cid, parts)
				out[p] = append(out[p], cid)
			}
		})
		return nil
	})
	return out
}

// fetchFrom gets a verified chunk blob from the holders first, then from
// any other live peer.
func (c *Cluster) fetchFrom(ctx context.Context, holders []string, id chunk.ID) ([]byte, error) {
	var errs []error
	tried := map[string]bool{string(c.cfg.Self): true}
	try := func(peerID string) ([]byte, bool) {
		if tried[peerID] {
			return nil, false
		}
		tried[peerID] = true
		addr, ok := c.peerAddr(peerID)
		if !ok {
			return nil, false
		}
		blob, err := c.call(ctx, bulkTimeout, addr, peerID, methodChunkGet, encode(chunkRequest{ID: id}))
		if err != nil {
			errs = append(errs, err)
			return nil, false
		}
		if _, err := chunk.Decode(id, blob); err != nil {
			c.log.Error("peer sent a corrupt chunk; trying the next holder", "peer", peerID, "chunk", id, "err", err)
			errs = append(errs, err)
			return nil, false
		}
		c.traffic.note(peerID, len(blob))
		return blob, true
	}
	for _, h := range holders {
		if blob, ok := try(h); ok {
			return blob, nil
		}
	}
	for _, p := range c.Peers() {
		if blob, ok := try(string(p.ID)); ok {
			return blob, nil
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("fetch chunk %s: no live peer has it: %w", id, chunk.ErrNotFound)
	}
	return nil, fmt.Errorf("fetch chunk %s: %w", id, errors.Join(errs...))
}

// PartitionState is one partition in the replication report.
type PartitionState struct {
	Partition int
	Holders   []string // holders that have every referenced chunk of it
	Expected  []string // the holders placement wants
	Want      int      // copies wanted: min(RF, storage members) ... RF when members suffice
	Chunks    int      // referenced chunks in it
	Reason    string   // why it is short, when it is
}

// Report checks, for every partition with referenced chunks, how many of
// its holders have all of them. It asks the peers (chunk/have), so it costs
// one round trip per holder.
func (c *Cluster) Report(ctx context.Context) ([]PartitionState, error) {
	pl := c.Placement()
	refs := c.referenced(pl.Partitions)
	byHolder := map[string][]chunk.ID{}
	for p, ids := range refs {
		for _, h := range placement.Holders(p, pl.Members, pl.RF) {
			byHolder[h] = append(byHolder[h], ids...)
		}
	}
	has := map[string]map[chunk.ID]bool{}
	for h, ids := range byHolder {
		m := map[chunk.ID]bool{}
		if h == string(c.cfg.Self) {
			budget := int64(haveBudget)
			for _, id := range ids {
				if ok, _ := c.cfg.Chunks.Present(ctx, id, &budget); ok {
					m[id] = true
				}
			}
		} else if got, err := c.peerHas(ctx, h, ids); err == nil {
			for i, ok := range got {
				if ok {
					m[ids[i]] = true
				}
			}
		}
		has[h] = m
	}
	var out []PartitionState
	for p, ids := range refs {
		st := PartitionState{Partition: p, Expected: placement.Holders(p, pl.Members, pl.RF), Want: pl.RF, Chunks: len(ids)}
		for _, h := range st.Expected {
			complete := true
			for _, id := range ids {
				if !has[h][id] {
					complete = false
					break
				}
			}
			if complete {
				st.Holders = append(st.Holders, h)
			}
		}
		switch {
		case len(pl.Members) < pl.RF:
			st.Reason = "only " + strconv.Itoa(len(pl.Members)) + " storage members are up"
		case len(st.Holders) < pl.RF:
			st.Reason = "repair in progress"
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}
