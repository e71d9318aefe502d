package node

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

// openMeta opens the metadata replica: meta.db (bbolt) behind the
// journal meta.journal.<n> (crdt.Journal). Changes of the filesystem
// return once journaled (they survive kill -9); the replica's committer
// makes them durable within milliseconds, after syncing the chunks they
// name, and tells the cluster layer (n.pushTo, once it exists) to push
// them to the peers.
func (n *Node) openMeta(clock *crdt.Clock) (*crdt.Replica, error) {
	store, err := crdt.OpenBoltStore(filepath.Join(n.Dir, "meta.db"), n.metaOptions()...)
	if err != nil {
		return nil, fmt.Errorf("open metadata: %w", err)
	}
	var jopts []crdt.JournalOption
	if n.keys != nil { // encryption at rest: the journal is sealed like meta.db
		jopts = append(jopts, crdt.JournalSealer(n.keys.Sealer("meta.journal")))
	}
	j, err := crdt.OpenJournal(filepath.Join(n.Dir, "meta.journal"), jopts...)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("open metadata journal: %w", err)
	}
	meta, err := crdt.Open(crdt.Options{
		Node:          n.ID,
		Store:         store,
		Journal:       j,
		Clock:         clock,
		Logger:        n.log,
		BeforeDurable: n.syncChunks,
		KeepReplayed:  n.keepReplayed,
		OnDurable: func() {
			if c := n.pushTo.Load(); c != nil {
				c.Changed()
			}
		},
	})
	if err != nil {
		j.Close()
		store.Close()
		return nil, fmt.Errorf("load metadata: %w", err)
	}
	return meta, nil
}

// syncChunks makes every chunk stored so far durable (stores that write
// lazily sync here; the others made each Put durable already).
func (n *Node) syncChunks() error {
	return n.Chunks.Sync(context.Background())
}

// keepReplayed keeps a journaled local op after the journal's last
// durable mark only when every chunk its content names is stored intact:
// such an op was written, but a power loss may have taken the chunks it
// names (written lazily, synced before the next mark).
func (n *Node) keepReplayed(op *crdt.Op) bool {
	if op.Content == nil || op.Content.Content == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ok := true
	op.Content.Content.EachChunk(0, func(_ int64, id crdt.ChunkID) bool {
		data, err := n.Chunks.Verify(ctx, chunk.ID(id))
		ok = err == nil && data != nil
		return ok
	})
	return ok
}
