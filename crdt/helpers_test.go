package crdt

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 16, 30, 0, 0, time.UTC)

// newTestReplicas opens n in-memory replicas n1..nN with fake clocks.
func newTestReplicas(t testing.TB, n int) []*Replica {
	t.Helper()
	rs := make([]*Replica, n)
	for i := range rs {
		node := NodeID("n" + string(rune('1'+i)))
		w := NewFakeWall(t0)
		r, err := Open(Options{Node: node, Clock: NewClock(node, w.Now)})
		if err != nil {
			t.Fatal(err)
		}
		rs[i] = r
	}
	return rs
}

func mustUpdate(t testing.TB, r *Replica, fn func(tx *Tx) error) []Op {
	t.Helper()
	ops, err := r.Update(fn)
	if err != nil {
		t.Fatalf("update on %s: %v", r.Node(), err)
	}
	return ops
}

// exchange brings every replica up to date with every other one.
func exchange(t testing.TB, rs ...*Replica) {
	t.Helper()
	for round := 0; round < 2; round++ {
		for _, a := range rs {
			for _, b := range rs {
				if a == b {
					continue
				}
				ops, err := a.Missing(b.VersionVector(), 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := b.Apply(ops); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func assertSame(t testing.TB, rs ...*Replica) {
	t.Helper()
	want := rs[0].EncodeState()
	for _, r := range rs[1:] {
		if got := r.EncodeState(); !bytes.Equal(got, want) {
			t.Fatalf("state of %s differs from %s", r.Node(), rs[0].Node())
		}
	}
}

// resolve walks a slash path from the root.
func resolve(v *View, path string) (Entry, error) {
	e := Entry{Dentry: RootID, Ref: Ref{Inode: RootID}, Kind: KindDir}
	for _, name := range strings.Split(strings.Trim(path, "/"), "/") {
		if name == "" {
			continue
		}
		var err error
		if e, err = v.Lookup(e.Ref.Inode, name); err != nil {
			return Entry{}, err
		}
	}
	return e, nil
}

func names(t testing.TB, r *Replica, dir string) []string {
	t.Helper()
	var out []string
	err := r.View(func(v *View) error {
		e, err := resolve(v, dir)
		if err != nil {
			return err
		}
		es, err := v.ReadDir(e.Ref.Inode)
		for _, x := range es {
			out = append(out, x.Name)
		}
		return err
	})
	if err != nil {
		t.Fatalf("readdir %s on %s: %v", dir, r.Node(), err)
	}
	return out
}

// mk creates path components as dirs (trailing "/") or files.
func mk(t testing.TB, r *Replica, paths ...string) {
	t.Helper()
	mustUpdate(t, r, func(tx *Tx) error {
		for _, p := range paths {
			dir := strings.HasSuffix(p, "/")
			p = strings.Trim(p, "/")
			i := strings.LastIndexByte(p, '/')
			parent := RootID
			if i >= 0 {
				e, err := resolve(tx.View, p[:i])
				if err != nil {
					return err
				}
				parent = e.Ref.Inode
			}
			kind := KindFile
			if dir {
				kind = KindDir
			}
			if _, err := tx.Create(parent, p[i+1:], kind, NewAttrs{Mode: 0o644}); err != nil {
				return err
			}
		}
		return nil
	})
}

func lookupPath(t testing.TB, r *Replica, path string) (Entry, error) {
	t.Helper()
	var e Entry
	err := r.View(func(v *View) (err error) { e, err = resolve(v, path); return })
	return e, err
}

func dirID(t testing.TB, r *Replica, path string) InodeID {
	t.Helper()
	e, err := lookupPath(t, r, path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return e.Ref.Inode
}

func isErr(err, target error) bool {
	if target == nil {
		return err == nil
	}
	return errors.Is(err, target)
}

// mustSnapshot is Snapshot for tests.
func mustSnapshot(tb interface {
	Helper()
	Fatal(...any)
}, r *Replica) *Snapshot {
	tb.Helper()
	s, err := r.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
