package replica

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/seqlog"
)

// The change feed: every namespace change, local or remote, as an event
// with a sequence number (Syncthing's events model). FUSE invalidation,
// the search index, dashboard events and export sync follow it instead of
// decoding replication ops themselves. A consumer remembers the last
// sequence number it handled and asks for what came after; the feed keeps
// the latest FeedSize events, and a consumer that fell further behind is
// told so (Missed) and resynchronises from the state.

// ChangeKind says what happened.
type ChangeKind uint8

const (
	ChangeCreated ChangeKind = iota + 1 // a new name: file, directory, symlink, special file, hard link
	ChangeMoved                         // renamed or moved (OldParent/OldName: from where)
	ChangeRemoved                       // deleted (OldParent/OldName: where it was)
	ChangeWritten                       // new content (a commit, a truncate, a conflict sibling dropped)
	ChangeAttr                          // mode, owner, times
	ChangeXattr                         // an extended attribute set or removed (Name: which)
	ChangeSetting                       // a cluster setting (Name: its key)
	ChangeReset                         // a snapshot replaced the state: anything may have changed
)

var kindNames = [...]string{ChangeCreated: "created", ChangeMoved: "moved", ChangeRemoved: "removed", ChangeWritten: "written",
	ChangeAttr: "attr", ChangeXattr: "xattr", ChangeSetting: "setting", ChangeReset: "reset"}

func (k ChangeKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// Change is one event of the feed.
type Change struct {
	Seq  uint64
	Kind ChangeKind
	// Inode is the file or directory concerned; Dentry the name (tree
	// node) for ChangeCreated, ChangeMoved and ChangeRemoved.
	Inode  crdt.InodeID
	Dentry crdt.InodeID
	// Parent and Name: where the name is now (ChangeCreated, ChangeMoved); for ChangeXattr
	// and ChangeSetting, Name is the attribute or setting key.
	Parent crdt.InodeID
	Name   string
	// OldParent and OldName: where it was (ChangeMoved, ChangeRemoved).
	OldParent crdt.InodeID
	OldName   string
	Origin    crdt.NodeID // the node whose op this is
	Remote    bool        // arrived from a peer
	At        time.Time   // the op's time (its origin's clock)
}

// FeedSize is how many events the feed keeps for consumers that lag.
const FeedSize = 1 << 16

// Feed is the change feed of an FS. Safe for concurrent use.
type Feed struct {
	log *seqlog.Log[Change]
	// epoch identifies this incarnation of the feed (one per FS): a
	// consumer that persists its sequence number persists the epoch with
	// it, and a number of another epoch is from an earlier run.
	epoch uint64
}

func newFeed() *Feed { return &Feed{log: seqlog.New[Change](FeedSize), epoch: rand.Uint64() | 1} }

// Epoch returns the feed's incarnation (random, never 0): sequence numbers
// are only comparable within one epoch.
func (fd *Feed) Epoch() uint64 { return fd.epoch }

// Last returns the sequence number of the newest event.
func (fd *Feed) Last() uint64 { return fd.log.Last() }

// Since returns up to max events after seq after (max <= 0: all kept).
// missed is true when events after after are gone (the consumer lagged
// by more than FeedSize, or after is from before a restart of the node):
// it must resynchronise from the state, then continue from the returned
// events.
func (fd *Feed) Since(after uint64, max int) (changes []Change, missed bool) {
	return fd.log.Since(after, max)
}

// Wait blocks until an event after after exists or ctx ends.
func (fd *Feed) Wait(ctx context.Context, after uint64) error { return fd.log.Wait(ctx, after) }

// Follow calls fn with every batch of events after after, in order, until
// ctx ends (returns ctx.Err()) or fn fails (returns its error). fn runs in
// the caller's goroutine; missed is as for Since.
func (fd *Feed) Follow(ctx context.Context, after uint64, fn func(changes []Change, missed bool) error) error {
	for {
		if err := fd.Wait(ctx, after); err != nil {
			return err
		}
		changes, missed := fd.Since(after, 4096)
		if len(changes) > 0 {
			after = changes[len(changes)-1].Seq
		}
		if err := fn(changes, missed); err != nil {
			return err
		}
	}
}

// publish appends events (numbering them) and wakes the waiters.
func (fd *Feed) publish(cs []Change) {
	fd.log.Append(func(c *Change, seq uint64) { c.Seq = seq }, cs...)
}

// Changes returns the FS's change feed.
func (f *FS) Changes() *Feed { return f.feed }

// NoteRemote publishes the changes of ops a peer sent, after they were
// applied (the cluster layer calls it).
func (f *FS) NoteRemote(ops []crdt.Op) { f.publishOps(ops, true) }

// NoteReset publishes that a snapshot replaced the state.
func (f *FS) NoteReset() {
	f.feed.publish([]Change{{Kind: ChangeReset, Remote: true, At: f.now()}})
}

// publishOps turns applied ops into events, one per op and subject; the
// attribute ops that come with a create, a write or a directory entry
// change (ctime, the directory's mtime) are not repeated as ChangeAttr events.
func (f *FS) publishOps(ops []crdt.Op, remote bool) {
	if len(ops) == 0 {
		return
	}
	var cs []Change
	covered := map[crdt.InodeID]bool{} // inodes whose ChangeAttr events are implied
	_ = f.meta.View(func(v *crdt.View) error {
		for i := range ops {
			c, ok := changeOf(v, &ops[i])
			if !ok {
				continue
			}
			c.Origin, c.Remote, c.At = ops[i].ID.Node, remote, ops[i].TS.Time()
			cs = append(cs, c)
			switch c.Kind {
			case ChangeXattr:
				covered[c.Inode] = true // its ctime
			case ChangeCreated, ChangeMoved, ChangeRemoved, ChangeWritten:
				covered[c.Inode] = true
				covered[c.Parent] = true
				covered[c.OldParent] = true
			}
		}
		return nil
	})
	out := cs[:0]
	for _, c := range cs {
		if c.Kind != ChangeAttr || !covered[c.Inode] {
			out = append(out, c)
		}
	}
	f.feed.publish(out)
}

// changeOf describes one op (false: nothing a consumer sees).
func changeOf(v *crdt.View, op *crdt.Op) (Change, bool) {
	switch {
	case op.Move != nil:
		m := op.Move
		c := Change{Inode: m.Inode, Dentry: m.Dentry, Parent: m.Parent, Name: m.Name, Kind: ChangeMoved}
		if p, ok := v.Place(m.Dentry); ok {
			c.OldParent, c.OldName = p.PrevParent, p.PrevName
			if !p.HasPrev {
				c.Kind = ChangeCreated
			}
		}
		if m.Parent == crdt.TrashID {
			c.Kind, c.Parent, c.Name = ChangeRemoved, crdt.InodeID{}, ""
		}
		return c, true
	case op.Content != nil:
		return Change{Kind: ChangeWritten, Inode: op.Content.Inode}, true
	case op.Attr != nil:
		return Change{Kind: ChangeAttr, Inode: op.Attr.Inode}, true
	case op.Xattr != nil:
		return Change{Kind: ChangeXattr, Inode: op.Xattr.Inode, Name: op.Xattr.Name}, true
	case op.Setting != nil:
		return Change{Kind: ChangeSetting, Name: op.Setting.Key}, true
	}
	return Change{}, false
}
