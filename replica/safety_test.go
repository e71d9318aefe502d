package replica

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

// Regression tests of issue 11 (docs/reliability.md): each failed on the
// code before its fix.

// TestDedupReplacesCorruptChunk (defect 3): a corrupt local chunk is never
// reused by a write of identical content; the write stores good bytes.
func TestDedupReplacesCorruptChunk(t *testing.T) {
	env := NewTestEnv(t, 64<<10)
	f := env.FS
	data := make([]byte, 200<<10)
	rand.Read(data)
	if _, err := f.PutFile(ctx, "a.bin", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var ids []chunk.ID
	f.Chunks().List(ctx, func(id chunk.ID) error { ids = append(ids, id); return nil })
	for _, id := range ids {
		env.CorruptChunk(t, id)
	}
	if _, err := f.PutFile(ctx, "b.bin", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := f.Walk(ctx, "b.bin")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f, b.Ref); !bytes.Equal(got, data) {
		t.Fatalf("b.bin reads %d bytes, not what was written", len(got))
	}
	// The old file shares the chunks: it reads correctly again too.
	a, _ := f.Walk(ctx, "a.bin")
	if got := readAll(t, f, a.Ref); !bytes.Equal(got, data) {
		t.Fatal("a.bin does not read back after the corrupt chunks were replaced")
	}
}

// TestWriteAfterUnlinkStaysDeleted (defect 4): writing to an open file
// after unlinking it (or after a rename replaced it) never brings the
// name back; the handle still reads what it wrote.
func TestWriteAfterUnlinkStaysDeleted(t *testing.T) {
	for _, how := range []string{"unlink", "rename over"} {
		t.Run(how, func(t *testing.T) {
			f := TestFS(t, 4096)
			_, h := mustCreate(t, f, crdt.RootID, "log")
			if _, err := h.WriteAt(ctx, []byte("first"), 0); err != nil {
				t.Fatal(err)
			}
			if err := h.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "unlink":
				if err := f.Unlink(ctx, crdt.RootID, "log"); err != nil {
					t.Fatal(err)
				}
			case "rename over":
				_, h2 := mustCreate(t, f, crdt.RootID, "log.new")
				h2.WriteAt(ctx, []byte("replacement"), 0)
				h2.Release()
				if err := f.Rename(ctx, crdt.RootID, "log.new", crdt.RootID, "log", 0); err != nil {
					t.Fatal(err)
				}
			}
			big := bytes.Repeat([]byte("after the unlink "), 1000) // chunked, not inline
			if _, err := h.WriteAt(ctx, big, 5); err != nil {
				t.Fatal(err)
			}
			if err := h.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5+len(big))
			if n, err := h.ReadAt(ctx, buf, 0); n != len(buf) || err != nil || !bytes.Equal(buf[5:], big) {
				t.Fatalf("handle reads back %d bytes, %v", n, err)
			}
			if err := h.Release(); err != nil {
				t.Fatal(err)
			}
			ents, err := f.ReadDir(ctx, crdt.RootID)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range ents {
				names = append(names, e.Name)
			}
			want := map[string][]string{"unlink": nil, "rename over": {"log"}}[how]
			if len(names) != len(want) || (len(want) == 1 && names[0] != want[0]) {
				t.Fatalf("directory shows %q after the write to the unlinked file, want %q", names, want)
			}
			if how == "rename over" {
				a, _ := f.Walk(ctx, "log")
				if got := readAll(t, f, a.Ref); string(got) != "replacement" {
					t.Fatalf("log = %q, want the replacement", got)
				}
			}
		})
	}
}

// blockingReplicator holds every Replicate until released.
type blockingReplicator struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingReplicator) Replicate(ctx context.Context, ids []chunk.ID) error {
	// Chunks stored as they fill start pushes of their own (pipeline.go),
	// so a commit may call this more than once: only the first is waited for.
	select {
	case b.entered <- struct{}{}:
	default:
	}
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestStatWhileChunksReplicate: an fsync pushing chunks to other holders
// does not hold the file's lock, so stat, read and write of the file go on
// while the network is slow; writes made meanwhile stay staged.
func TestStatWhileChunksReplicate(t *testing.T) {
	env := NewTestEnv(t, 4096)
	f := env.FS
	rep := &blockingReplicator{entered: make(chan struct{}, 1), release: make(chan struct{})}
	f.repl = rep
	a, h := mustCreate(t, f, crdt.RootID, "slow")
	data := bytes.Repeat([]byte("x"), 10000)
	h.WriteAt(ctx, data, 0)
	flushed := make(chan error, 1)
	go func() { flushed <- h.Fsync(ctx) }()
	<-rep.entered // the commit is now waiting for the network
	done := make(chan error, 1)
	go func() {
		if _, err := f.GetAttr(ctx, a.Ref); err != nil {
			done <- err
			return
		}
		if _, err := h.WriteAt(ctx, []byte("tail"), int64(len(data))); err != nil {
			done <- err
			return
		}
		buf := make([]byte, 4)
		_, err := h.ReadAt(ctx, buf, int64(len(data)))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case err := <-flushed:
		t.Fatalf("fsync returned (%v) before the replicator was released", err)
	case <-time.After(time.Minute): // a hang, not a slow machine
		t.Fatal("stat/read/write of the file wait for the replicating commit")
	}
	close(rep.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if got := h.Size(); got != int64(len(data))+4 {
		t.Fatalf("size after the commit = %d, want %d (the write made meanwhile is kept)", got, len(data)+4)
	}
	go func() { <-rep.entered }()
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f, a.Ref); !bytes.Equal(got, append(data, "tail"...)) {
		t.Fatalf("content after both commits: %d bytes", len(got))
	}
}

// TestOpenFilePinsItsChunks: an open file pins its committed chunks (so no
// collection on any member can take them while a later commit may reuse
// them), and releases them when closed.
func TestOpenFilePinsItsChunks(t *testing.T) {
	f := TestFS(t, 4096)
	a, h := mustCreate(t, f, crdt.RootID, "p")
	h.WriteAt(ctx, bytes.Repeat([]byte("p"), 9000), 0)
	h.Flush(ctx)
	var ino crdt.Inode
	f.Meta().View(func(v *crdt.View) error { ino, _ = v.Inode(a.Ref.Inode); return nil })
	if len(ino.Content.Chunks) == 0 {
		t.Fatal("no chunks")
	}
	for _, id := range ino.Content.Chunks {
		if !f.Chunks().Pinned(chunk.ID(id)) {
			t.Fatal("an open file's chunk is not pinned")
		}
	}
	h.Release()
	for _, id := range ino.Content.Chunks {
		if f.Chunks().Pinned(chunk.ID(id)) {
			t.Fatal("a closed file's chunk is still pinned")
		}
	}
}
