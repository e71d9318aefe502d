package crdt

import (
	"fmt"
	"reflect"
	"testing"
)

func TestRename(t *testing.T) {
	tests := []struct {
		name    string
		setup   []string
		from    string
		to      string
		flags   RenameFlags
		wantErr error
		want    []string // root listing after
	}{
		{"plain", []string{"a"}, "a", "b", 0, nil, []string{"b"}},
		{"file over file", []string{"a", "b"}, "a", "b", 0, nil, []string{"b"}},
		{"dir over empty dir", []string{"d/", "e/"}, "d", "e", 0, nil, []string{"e"}},
		{"dir over non-empty dir", []string{"d/", "e/", "e/x"}, "d", "e", 0, ErrNotEmpty, []string{"d", "e"}},
		{"file over dir", []string{"a", "e/"}, "a", "e", 0, ErrIsDir, []string{"a", "e"}},
		{"dir over file", []string{"d/", "a"}, "d", "a", 0, ErrNotDir, []string{"a", "d"}},
		{"noreplace existing", []string{"a", "b"}, "a", "b", RenameNoReplace, ErrExist, []string{"a", "b"}},
		{"noreplace free", []string{"a"}, "a", "b", RenameNoReplace, nil, []string{"b"}},
		{"exchange", []string{"a", "d/", "d/x"}, "a", "d", RenameExchange, nil, []string{"a", "d"}},
		{"exchange missing", []string{"a"}, "a", "b", RenameExchange, ErrNotFound, []string{"a"}},
		{"into own subtree", []string{"d/", "d/e/"}, "d", "d/e/f", 0, ErrInvalid, []string{"d"}},
		{"onto itself", []string{"d/"}, "d", "d/f", 0, ErrInvalid, []string{"d"}},
		{"missing source", []string{"a"}, "zz", "b", 0, ErrNotFound, []string{"a"}},
		{"bad name", []string{"a"}, "a", "..", 0, ErrInvalid, []string{"a"}},
		{"same file", []string{"a"}, "a", "a", 0, nil, []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestReplicas(t, 1)[0]
			mk(t, r, tc.setup...)
			before := r.VersionVector()[r.Node()]
			_, err := r.Update(func(tx *Tx) error {
				fp, fn := splitPath(tx.View, tc.from)
				tp, tn := splitPath(tx.View, tc.to)
				return tx.Rename(fp, fn, tp, tn, tc.flags)
			})
			if !isErr(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil && r.VersionVector()[r.Node()] != before {
				t.Fatalf("failed rename issued ops")
			}
			if got := names(t, r, "/"); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("root = %v, want %v", got, tc.want)
			}
		})
	}
}

// splitPath returns the parent dir id (RootID if missing) and the last name.
func splitPath(v *View, p string) (InodeID, string) {
	dir, name := "", p
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			dir, name = p[:i], p[i+1:]
			break
		}
	}
	e, err := resolve(v, dir)
	if err != nil {
		return InodeID{1}, name
	}
	return e.Ref.Inode, name
}

func TestExchangeContents(t *testing.T) {
	r := newTestReplicas(t, 1)[0]
	mk(t, r, "a", "d/", "d/x")
	mustUpdate(t, r, func(tx *Tx) error { return tx.Rename(RootID, "a", RootID, "d", RenameExchange) })
	if got := names(t, r, "/a"); !reflect.DeepEqual(got, []string{"x"}) {
		t.Fatalf("a = %v", got)
	}
	e, _ := lookupPath(t, r, "d")
	if e.Kind != KindFile {
		t.Fatalf("d is %v", e.Kind)
	}
}

func TestRemove(t *testing.T) {
	tests := []struct {
		name    string
		setup   []string
		path    string
		dir     bool
		wantErr error
	}{
		{"unlink", []string{"a"}, "a", false, nil},
		{"rmdir empty", []string{"d/"}, "d", true, nil},
		{"rmdir non-empty", []string{"d/", "d/x"}, "d", true, ErrNotEmpty},
		{"rmdir file", []string{"a"}, "a", true, ErrNotDir},
		{"unlink dir", []string{"d/"}, "d", false, ErrIsDir},
		{"missing", nil, "a", false, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestReplicas(t, 1)[0]
			mk(t, r, tc.setup...)
			_, err := r.Update(func(tx *Tx) error { return tx.Remove(RootID, tc.path, tc.dir) })
			if !isErr(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			_, lerr := lookupPath(t, r, tc.path)
			if tc.wantErr == nil && !isErr(lerr, ErrNotFound) {
				t.Fatalf("still there: %v", lerr)
			}
		})
	}
}

func TestCreateErrors(t *testing.T) {
	r := newTestReplicas(t, 1)[0]
	mk(t, r, "a", "d/")
	long := string(make([]byte, 256))
	for i := range []byte(long) {
		_ = i
	}
	tests := []struct {
		parent string
		name   string
		want   error
	}{
		{"/", "a", ErrExist},
		{"/", "", ErrInvalid},
		{"/", ".", ErrInvalid},
		{"/", "..", ErrInvalid},
		{"/", "x/y", ErrInvalid},
		{"/", "x\x00y", ErrInvalid},
		{"/", fmt.Sprintf("%0256d", 0), ErrNameTooLong},
		{"a", "x", ErrNotDir},
		{"d", "x", nil},
	}
	for _, tc := range tests {
		_, err := r.Update(func(tx *Tx) error {
			p, err := resolve(tx.View, tc.parent)
			if err != nil {
				return err
			}
			_, err = tx.Create(p.Ref.Inode, tc.name, KindFile, NewAttrs{})
			return err
		})
		if !isErr(err, tc.want) {
			t.Errorf("create %s/%q: err %v, want %v", tc.parent, tc.name, err, tc.want)
		}
	}
}

func TestHardLinksNlink(t *testing.T) {
	r := newTestReplicas(t, 1)[0]
	mk(t, r, "a", "d/", "d/e/")
	a, d := dirID(t, r, "a"), dirID(t, r, "d")
	mustUpdate(t, r, func(tx *Tx) error {
		if err := tx.Link(a, RootID, "b"); err != nil {
			return err
		}
		return tx.Link(a, d, "c")
	})
	nlink := func(id InodeID) uint32 {
		var in Inode
		r.View(func(v *View) (err error) { in, err = v.Inode(id); return })
		return in.Nlink
	}
	if n := nlink(a); n != 3 {
		t.Fatalf("nlink = %d, want 3", n)
	}
	if n := nlink(RootID); n != 3 {
		t.Fatalf("root nlink = %d, want 3", n)
	}
	if n := nlink(d); n != 3 {
		t.Fatalf("d nlink = %d, want 3", n)
	}
	mustUpdate(t, r, func(tx *Tx) error { return tx.Remove(RootID, "a", false) })
	if n := nlink(a); n != 2 {
		t.Fatalf("nlink = %d, want 2", n)
	}
	_, err := r.Update(func(tx *Tx) error { return tx.Link(d, RootID, "dd") })
	if !isErr(err, ErrIsDir) {
		t.Fatalf("link dir: %v", err)
	}
	mustUpdate(t, r, func(tx *Tx) error {
		if err := tx.Remove(RootID, "b", false); err != nil {
			return err
		}
		return tx.Remove(d, "c", false)
	})
	if n := nlink(a); n != 0 {
		t.Fatalf("nlink = %d, want 0", n)
	}
}

func TestXattrsAndSettings(t *testing.T) {
	rs := newTestReplicas(t, 2)
	mk(t, rs[0], "a")
	exchange(t, rs...)
	a := dirID(t, rs[0], "a")
	mustUpdate(t, rs[0], func(tx *Tx) error { return tx.SetXattr(a, "user.x", []byte("1")) })
	mustUpdate(t, rs[1], func(tx *Tx) error { return tx.SetXattr(a, "user.x", []byte("2")) })
	mustUpdate(t, rs[1], func(tx *Tx) error { return tx.SetSetting(SettingReplicationFactor, EncodeValue(3)) })
	exchange(t, rs...)
	assertSame(t, rs...)
	rs[0].View(func(v *View) error {
		x, err := v.Xattr(a, "user.x")
		if err != nil || string(x) != "2" {
			t.Fatalf("xattr = %q, %v", x, err)
		}
		b, ok := v.Setting(SettingReplicationFactor)
		var rf int
		if !ok || DecodeValue(b, &rf) != nil || rf != 3 {
			t.Fatalf("setting = %v %v", b, ok)
		}
		return nil
	})
	mustUpdate(t, rs[0], func(tx *Tx) error { return tx.RemoveXattr(a, "user.x") })
	_, err := rs[0].Update(func(tx *Tx) error { return tx.RemoveXattr(a, "user.x") })
	if !isErr(err, ErrNoAttr) {
		t.Fatalf("remove twice: %v", err)
	}
}
