package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/chunk/rawfile"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
	"github.com/clusterf/clusterf/transport"
)

// fsNode is an in-process cluster member with the filesystem core on top,
// over real QUIC on loopback, whose calls to chosen peers can be cut
// (netFilter) to make partitions.
type fsNode struct {
	id    crdt.NodeID
	dir   string
	opts  fsNodeOpts
	meta  *crdt.Replica
	store *rawfile.Store
	keep  *lifecycle.Keeper
	tr    *transport.Transport
	net   *netFilter
	c     *Cluster
	fs    *replica.FS

	cancel context.CancelFunc
	done   chan struct{}
}

type fsNodeOpts struct {
	noStore bool
	// repl wraps the cluster as the core's Replicator (nil: the cluster).
	repl func(replica.Replicator) replica.Replicator
	// persistent keeps the metadata in a bbolt file, so restart keeps it.
	persistent bool
	// maxMessage is the transport's frame limit (0: its default, 64 MiB).
	maxMessage int
}

// errPartitioned is what a cut call returns.
var errPartitioned = errors.New("test: partitioned")

// netFilter is a Caller that refuses calls to blocked peers.
type netFilter struct {
	inner   Caller
	mu      sync.Mutex
	blocked map[string]bool
	rate    int // bytes per second of a slow link (0: as fast as loopback)
	calls   int // Calls made, and of those:
	late    int // those the caller's deadline ended on the slow link
}

// slow makes every call take (request + response bytes) / rate.
func (f *netFilter) slow(rate int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rate = rate
}

// counts returns the calls made and the ones that ran out of time.
func (f *netFilter) counts() (calls, late int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.late
}

func (f *netFilter) cut(peer string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked[peer] = on
}

func (f *netFilter) isCut(peer string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked[peer]
}

func (f *netFilter) Call(ctx context.Context, addr, peer, method string, req []byte) ([]byte, error) {
	f.mu.Lock()
	cut, inner, rate := f.blocked[peer], f.inner, f.rate
	f.calls++
	f.mu.Unlock()
	if cut {
		return nil, errPartitioned
	}
	resp, err := inner.Call(ctx, addr, peer, method, req)
	if err != nil || rate == 0 {
		return resp, err
	}
	t := time.NewTimer(time.Duration(len(req)+len(resp)) * time.Second / time.Duration(rate))
	defer t.Stop()
	select {
	case <-t.C:
		return resp, nil
	case <-ctx.Done():
		f.mu.Lock()
		f.late++
		f.mu.Unlock()
		return nil, fmt.Errorf("slow link: %w", ctx.Err())
	}
}

func (f *netFilter) CallStream(ctx context.Context, addr, peer, method string, req []byte, body io.Reader) (io.ReadCloser, error) {
	f.mu.Lock()
	cut, inner, rate := f.blocked[peer], f.inner, f.rate
	f.calls++
	f.mu.Unlock()
	if cut {
		return nil, errPartitioned
	}
	rc, err := inner.CallStream(ctx, addr, peer, method, req, body)
	if err != nil || rate == 0 {
		return rc, err
	}
	return &slowReader{ReadCloser: rc, ctx: ctx, rate: rate, f: f}, nil
}

// slowReader delivers a stream at rate bytes per second.
type slowReader struct {
	io.ReadCloser
	ctx  context.Context
	rate int
	f    *netFilter
}

func (r *slowReader) Read(p []byte) (int, error) {
	p = p[:min(len(p), max(r.rate/10, 1))] // a tenth of a second's worth
	n, err := r.ReadCloser.Read(p)
	t := time.NewTimer(time.Duration(n) * time.Second / time.Duration(r.rate))
	defer t.Stop()
	select {
	case <-t.C:
		return n, err
	case <-r.ctx.Done():
		r.f.mu.Lock()
		r.f.late++
		r.f.mu.Unlock()
		return 0, fmt.Errorf("slow link: %w", r.ctx.Err())
	}
}

// nodeHandler serves RPCs once the node's cluster exists; calls from a
// peer we are cut from are refused too (a two-way partition).
type nodeHandler struct{ n *fsNode }

func (h nodeHandler) HandleRPC(ctx context.Context, p transport.PeerInfo, method string, req []byte) ([]byte, error) {
	if h.n.net.isCut(p.ID) {
		return nil, errPartitioned
	}
	return h.n.c.HandleRPC(ctx, p, method, req)
}

func (h nodeHandler) HandleStream(ctx context.Context, p transport.PeerInfo, method string, req []byte, body io.Reader, resp io.Writer) error {
	if h.n.net.isCut(p.ID) {
		return errPartitioned
	}
	return h.n.c.HandleStream(ctx, p, method, req, body, resp)
}

// startFSCluster starts n members that know each other, with a tiny GC
// grace and no background repair (tests call RepairOnce).
func startFSCluster(t *testing.T, ctx context.Context, n int, opts func(i int, o *fsNodeOpts)) []*fsNode {
	t.Helper()
	nodes := make([]*fsNode, n)
	for i := range nodes {
		var o fsNodeOpts
		if opts != nil {
			opts(i, &o)
		}
		nodes[i] = newFSNode(t, ctx, fmt.Sprintf("n%d", i), o)
	}
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.c.AddPeer(b.id, b.tr.Addr().String(), 0)
			}
		}
	}
	waitAllUp(t, nodes)
	return nodes
}

// waitAllUp waits until every node sees every peer up.
func waitAllUp(t *testing.T, nodes []*fsNode) {
	t.Helper()
	waitUntil(t, "every peer up", func() bool {
		for _, a := range nodes {
			for _, p := range a.c.Peers() {
				if !p.Up {
					return false
				}
			}
		}
		return true
	})
}

func newFSNode(t *testing.T, ctx context.Context, id string, o fsNodeOpts) *fsNode {
	t.Helper()
	n := &fsNode{id: crdt.NodeID(id), dir: t.TempDir(), opts: o, net: &netFilter{blocked: map[string]bool{}}}
	if err := n.start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	return n
}

// start opens the node's stores and starts its transport and cluster.
func (n *fsNode) start(parent context.Context) error {
	o := n.opts
	var store crdt.Store
	if o.persistent {
		var err error
		if store, err = crdt.OpenBoltStore(filepath.Join(n.dir, "meta.db")); err != nil {
			return err
		}
	}
	var err error
	if n.meta, err = crdt.Open(crdt.Options{Node: n.id, Store: store}); err != nil {
		return err
	}
	if n.store, err = rawfile.Open(filepath.Join(n.dir, "chunks")); err != nil {
		return err
	}
	n.keep = lifecycle.New(n.store, nil)
	n.tr, err = transport.New(transport.Config{NodeID: string(n.id), Listen: "127.0.0.1:0", Handler: nodeHandler{n}, MaxMessage: o.maxMessage})
	if err != nil {
		return err
	}
	n.net.mu.Lock()
	n.net.inner = n.tr
	n.net.mu.Unlock()
	n.c = New(Config{
		Self: n.id, Meta: n.meta, Chunks: n.keep, Transport: n.net, NoStore: o.noStore,
		SyncInterval: 100 * time.Millisecond, DownAfter: 2 * time.Second, RepairInterval: time.Hour, GCGrace: time.Nanosecond, Logger: debugLogger(),
	})
	rec := crdt.EncodeValue(MemberRecord{NoStore: o.noStore})
	if _, err := n.meta.Update(func(tx *crdt.Tx) error { return tx.SetSetting(crdt.SettingMemberPrefix+string(n.id), rec) }); err != nil {
		return err
	}
	var repl replica.Replicator = n.c
	if o.repl != nil {
		repl = o.repl(n.c)
	}
	n.fs, err = replica.New(replica.Config{
		Meta: n.meta, Chunks: n.keep, Fetcher: n.c, Replicator: repl, OnCommit: n.c.Changed,
		StagingDir: filepath.Join(n.dir, "staging"), ChunkSize: 64 << 10, ReserveBytes: -1,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(parent)
	n.cancel, n.done = cancel, make(chan struct{})
	tr, c := n.tr, n.c
	go func() {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); tr.Serve(ctx) }()
		go func() { defer wg.Done(); c.Run(ctx) }()
		wg.Wait()
		close(n.done)
	}()
	return nil
}

// stop stops the node and closes its stores (a clean stop; staged writes
// of open handles are lost, as in a crash).
func (n *fsNode) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	<-n.done
	n.cancel = nil
	n.fs.Close()
	n.tr.Close()
	n.meta.Close()
	n.store.Close()
}

// restart stops n and starts it again on the same data; its peers learn
// its new address.
func (n *fsNode) restart(t *testing.T, ctx context.Context, peers []*fsNode) {
	t.Helper()
	n.stop()
	if err := n.start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if p != n {
			p.c.AddPeer(n.id, n.tr.Addr().String(), 0)
			n.c.AddPeer(p.id, p.tr.Addr().String(), 0)
		}
	}
}

// partition cuts (on) or heals every link between group a and group b.
func partition(on bool, a []*fsNode, b []*fsNode) {
	for _, x := range a {
		for _, y := range b {
			x.net.cut(string(y.id), on)
			y.net.cut(string(x.id), on)
		}
	}
}

// writeFile writes data to path through n's core and closes it.
func (n *fsNode) writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if _, err := n.fs.PutFile(context.Background(), path, bytes.NewReader(data), replica.PutOptions{}); err != nil {
		t.Fatalf("%s: put %s: %v", n.id, path, err)
	}
}

// readFile reads path through n's core.
func (n *fsNode) readFile(path string) ([]byte, error) {
	ctx := context.Background()
	a, err := n.fs.Walk(ctx, path)
	if err != nil {
		return nil, err
	}
	return n.readRef(a.Ref)
}

func (n *fsNode) readRef(ref crdt.Ref) ([]byte, error) {
	ctx := context.Background()
	h, err := n.fs.Open(ctx, ref, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	buf := make([]byte, h.Size())
	if _, err := h.ReadAt(ctx, buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf, nil
}

// stored lists the chunk ids n stores.
func (n *fsNode) stored() map[chunk.ID]bool {
	out := map[chunk.ID]bool{}
	n.store.List(context.Background(), func(id chunk.ID) error { out[id] = true; return nil })
	return out
}

// synced waits until every node has every other's ops.
func synced(t *testing.T, nodes ...*fsNode) {
	t.Helper()
	waitUntil(t, "metadata in sync", func() bool {
		for _, a := range nodes[1:] {
			if nodes[0].meta.VersionVector().Compare(a.meta.VersionVector()) != crdt.Equal {
				return false
			}
		}
		return true
	})
}

// gcRounds runs k repair rounds on every node, with a sync interval's
// worth of anti-entropy between them so that fresh member reports exist.
func gcRounds(k int, nodes ...*fsNode) RepairStats {
	var total RepairStats
	for range k {
		for _, n := range nodes {
			st := n.c.RepairOnce(context.Background())
			total.Collected += st.Collected
			total.CollectedBytes += st.CollectedBytes
			total.Compacted.Ops += st.Compacted.Ops
		}
		time.Sleep(350 * time.Millisecond)
	}
	return total
}

func debugLogger() *slog.Logger {
	if os.Getenv("CLUSTER_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
