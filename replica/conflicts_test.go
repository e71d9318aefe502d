package replica

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/clusterf/clusterf/crdt"
)

// sync2 brings two replicas up to date with each other.
func sync2(t *testing.T, a, b *crdt.Replica) {
	t.Helper()
	for _, p := range [][2]*crdt.Replica{{a, b}, {b, a}} {
		ops, err := p[0].Missing(p[1].VersionVector(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p[1].Apply(ops); err != nil {
			t.Fatal(err)
		}
	}
}

func readPath(t *testing.T, f *FS, p string) []byte {
	t.Helper()
	ctx := context.Background()
	a, err := f.Walk(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	buf := make([]byte, h.Size())
	if _, err := h.ReadAt(ctx, buf, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return buf
}

func rootNames(t *testing.T, f *FS) []string {
	t.Helper()
	ents, err := f.ReadDir(context.Background(), crdt.RootID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name)
	}
	return out
}

func conflictCopy(t *testing.T, f *FS, base string) string {
	t.Helper()
	for _, n := range rootNames(t, f) {
		if strings.HasPrefix(n, base+".conflict-") {
			return n
		}
	}
	t.Fatalf("no conflict copy of %s in %v", base, rootNames(t, f))
	return ""
}

// TestKeepConflict: keeping a conflict copy of concurrent writes makes its
// content the file's only version; keeping the loser of a name clash
// removes the winner and shows the loser under the name; a path in no
// conflict is ErrInvalid.
func TestKeepConflict(t *testing.T) {
	ctx := context.Background()
	env := NewTestEnv(t, 0)
	f := env.FS
	other, err := crdt.Open(crdt.Options{Node: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	a, err := f.PutFile(ctx, "a.txt", strings.NewReader("base"), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sync2(t, env.Meta, other)
	write := func(r *crdt.Replica, data string) {
		t.Helper()
		if _, err := r.Update(func(tx *crdt.Tx) error {
			in, err := tx.Inode(a.Ref.Inode)
			if err != nil {
				return err
			}
			_, err = tx.WriteContent(a.Ref.Inode, in.Version, crdt.Content{Size: int64(len(data)), Inline: []byte(data)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	write(env.Meta, "mine")
	write(other, "theirs")
	sync2(t, env.Meta, other)
	cp := conflictCopy(t, f, "a")
	want := readPath(t, f, cp)
	if kept, err := f.KeepConflict(ctx, cp); err != nil || kept != "/a.txt" {
		t.Fatalf("keep %s: %q, %v", cp, kept, err)
	}
	if got := readPath(t, f, "a.txt"); !bytes.Equal(got, want) {
		t.Fatalf("a.txt after keeping %s: %q, want %q", cp, got, want)
	}
	if names := rootNames(t, f); len(names) != 1 {
		t.Fatalf("after keeping one version: %v", names)
	}

	// A name clash: both create n.txt.
	if _, err := f.PutFile(ctx, "n.txt", strings.NewReader("here"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Update(func(tx *crdt.Tx) error {
		id, err := tx.Create(crdt.RootID, "n.txt", crdt.KindFile, crdt.NewAttrs{Mode: 0o644})
		if err != nil {
			return err
		}
		_, err = tx.WriteContent(id, crdt.OpID{}, crdt.Content{Size: 5, Inline: []byte("there")})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sync2(t, env.Meta, other)
	loser := conflictCopy(t, f, "n")
	want = readPath(t, f, loser)
	if kept, err := f.KeepConflict(ctx, loser); err != nil || kept != "/n.txt" {
		t.Fatalf("keep %s: %q, %v", loser, kept, err)
	}
	if got := readPath(t, f, "n.txt"); !bytes.Equal(got, want) {
		t.Fatalf("n.txt after keeping %s: %q, want %q", loser, got, want)
	}
	if names := rootNames(t, f); len(names) != 2 {
		t.Fatalf("after keeping one name: %v", names)
	}
	if _, err := f.KeepConflict(ctx, "n.txt"); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("keep of a file in no conflict: %v, want ErrInvalid", err)
	}
}
