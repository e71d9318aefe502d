package replica

import (
	"context"
	"errors"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/clusterf/clusterf/crdt"
)

func kinds(cs []Change) []ChangeKind {
	var out []ChangeKind
	for _, c := range cs {
		out = append(out, c.Kind)
	}
	return out
}

// TestFeedEvents: each namespace change is one event of the right kind,
// with where it is and where it was; the attribute ops a change brings
// with it are not repeated.
func TestFeedEvents(t *testing.T) {
	f := TestFS(t, 4096)
	fd := f.Changes()
	start := fd.Last()
	d, err := f.Mkdir(ctx, crdt.RootID, "d", 0o755, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	a, h := mustCreate(t, f, d.Ref.Inode, "a")
	h.WriteAt(ctx, []byte("hello"), 0)
	h.Release()
	f.Rename(ctx, d.Ref.Inode, "a", crdt.RootID, "b", 0)
	mode := uint32(0o600)
	f.SetAttr(ctx, a.Ref, SetAttrIn{Mode: &mode})
	f.SetXattr(ctx, a.Ref.Inode, "user.tag", []byte("x"), 0)
	f.Unlink(ctx, crdt.RootID, "b")
	cs, missed := fd.Since(start, 0)
	if missed {
		t.Fatal("missed events")
	}
	want := []ChangeKind{ChangeCreated, ChangeCreated, ChangeWritten, ChangeMoved, ChangeAttr, ChangeXattr, ChangeRemoved}
	if !reflect.DeepEqual(kinds(cs), want) {
		t.Fatalf("events %v, want %v", kinds(cs), want)
	}
	mv := cs[3]
	if mv.Inode != a.Ref.Inode || mv.Parent != crdt.RootID || mv.Name != "b" || mv.OldParent != d.Ref.Inode || mv.OldName != "a" {
		t.Fatalf("move event %+v", mv)
	}
	if rm := cs[6]; rm.OldParent != crdt.RootID || rm.OldName != "b" || rm.Remote {
		t.Fatalf("remove event %+v", rm)
	}
	for i, c := range cs {
		if c.Seq != start+uint64(i)+1 || c.Origin != "test" || c.At.IsZero() {
			t.Fatalf("event %d: seq %d origin %q at %v", i, c.Seq, c.Origin, c.At)
		}
	}
}

// TestFeedRemoteAndMissed: ops from a peer are events with Remote set; a
// consumer that lags by more than FeedSize is told it missed some.
func TestFeedRemoteAndMissed(t *testing.T) {
	f := TestFS(t, 4096)
	peer := crdt.TestReplica(t, "peer")
	var ops []crdt.Op
	o, err := peer.Update(func(tx *crdt.Tx) error {
		_, err := tx.Create(crdt.RootID, "from-peer", crdt.KindFile, crdt.NewAttrs{Mode: 0o644})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ops = append(ops, o...)
	start := f.Changes().Last()
	applied, err := f.Meta().Apply(ops)
	if err != nil {
		t.Fatal(err)
	}
	f.NoteRemote(applied)
	cs, _ := f.Changes().Since(start, 0)
	if len(cs) != 1 || cs[0].Kind != ChangeCreated || !cs[0].Remote || cs[0].Origin != "peer" || cs[0].Name != "from-peer" {
		t.Fatalf("remote events %+v", cs)
	}
	for range FeedSize + 10 {
		f.feed.publish([]Change{{Kind: ChangeSetting, Name: "x"}})
	}
	got, missed := f.Changes().Since(start, 10)
	if !missed || len(got) != 10 || got[0].Seq != f.Changes().Last()-FeedSize+1 {
		t.Fatalf("after overflow: missed=%v, %d events from %d", missed, len(got), got[0].Seq)
	}
	if _, missed := f.Changes().Since(f.Changes().Last()+5, 0); !missed {
		t.Fatal("a sequence number from the future (another incarnation) is not reported as missed")
	}
}

// TestFeedFollow: followers see every event in order while writers run,
// and stop with their context.
func TestFeedFollow(t *testing.T) {
	f := TestFS(t, 4096)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	const followers, files = 3, 50
	got := make([][]uint64, followers)
	for i := range followers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f.Changes().Follow(fctx, 0, func(cs []Change, missed bool) error {
				for _, c := range cs {
					got[i] = append(got[i], c.Seq)
				}
				if len(got[i]) >= files {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("follow ended with %v", err)
			}
		}()
	}
	for i := range files {
		_, h, err := f.Create(ctx, crdt.RootID, "f"+itoaT(i), 0o644, Owner{}, os.O_WRONLY)
		if err != nil {
			t.Fatal(err)
		}
		h.Release()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("followers did not see every event")
	}
	for i := range followers {
		for j, s := range got[i] {
			if s != uint64(j)+1 {
				t.Fatalf("follower %d: event %d has seq %d", i, j, s)
			}
		}
	}
}

func itoaT(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoaT(i/10) + string(rune('0'+i%10))
}
