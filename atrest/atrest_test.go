package atrest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testParams keeps Argon2id cheap in tests.
var testParams = Params{Time: 1, MemoryKiB: 64, Threads: 1}

func TestSealOpen(t *testing.T) {
	var k Keys
	k.master[0] = 7
	s := k.Sealer("test")
	for _, n := range []int{0, 1, 100, 1 << 20} {
		plain := bytes.Repeat([]byte{0xab}, n)
		rec := s.Seal(nil, plain, []byte("place-1"))
		if len(rec) != n+Overhead {
			t.Fatalf("sealed %d bytes to %d, want %d", n, len(rec), n+Overhead)
		}
		if n > 16 && bytes.Contains(rec, plain[:16]) {
			t.Fatal("sealed record contains the plaintext")
		}
		got, err := s.Open(nil, rec, []byte("place-1"))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open = %d bytes, %v", len(got), err)
		}
		// Another place, another purpose, any flipped byte, a cut: refused.
		if _, err := s.Open(nil, rec, []byte("place-2")); !errors.Is(err, ErrTampered) {
			t.Fatalf("other ad: err = %v", err)
		}
		if _, err := k.Sealer("other").Open(nil, rec, []byte("place-1")); !errors.Is(err, ErrTampered) {
			t.Fatalf("other purpose: err = %v", err)
		}
		for _, i := range []int{0, 1, 30, len(rec) - 1} {
			bad := bytes.Clone(rec)
			bad[i] ^= 1
			if got, err := s.Open(nil, bad, []byte("place-1")); !errors.Is(err, ErrTampered) || got != nil {
				t.Fatalf("flipped byte %d: %d bytes, err = %v", i, len(got), err)
			}
		}
		if _, err := s.Open(nil, rec[:len(rec)-1], []byte("place-1")); !errors.Is(err, ErrTampered) {
			t.Fatalf("cut: err = %v", err)
		}
	}
	// Two seals of the same plaintext differ (random nonces).
	a, b := s.Seal(nil, []byte("x"), nil), s.Seal(nil, []byte("x"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals are equal")
	}
	// Seal appends to dst.
	if rec := s.Seal([]byte("pre"), []byte("x"), nil); string(rec[:3]) != "pre" {
		t.Fatal("Seal did not append")
	}
}

func TestDeriveIndependent(t *testing.T) {
	var k Keys
	a, a2 := k.Derive("a"), k.Derive("a")
	if a == k.Derive("b") || a != a2 {
		t.Fatal("Derive is not a function of the purpose")
	}
}

func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			m[p] = string(b)
		}
		return nil
	})
	return m
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	// Plain fresh dir without a key: nothing written.
	if k, err := Resolve(dir, nil, true, testParams); k != nil || err != nil {
		t.Fatalf("no key, fresh = %v, %v", k, err)
	}
	if len(snapshotDir(t, dir)) != 0 {
		t.Fatal("plain Resolve wrote files")
	}
	// A key for a dir that ran without one: refused.
	if _, err := Resolve(dir, []byte("pw"), false, testParams); !errors.Is(err, ErrNotEncrypted) || !errors.Is(err, ErrKey) {
		t.Fatalf("key for plain dir: err = %v", err)
	}
	if len(snapshotDir(t, dir)) != 0 {
		t.Fatal("refused Resolve wrote files")
	}
	// First start with a key.
	k1, err := Resolve(dir, []byte("correct horse"), true, testParams)
	if err != nil || k1 == nil {
		t.Fatalf("create = %v, %v", k1, err)
	}
	before := snapshotDir(t, dir)
	if b := before[filepath.Join(dir, HeaderFile)]; strings.Contains(b, "correct horse") {
		t.Fatal("header holds the passphrase")
	}
	k2, err := Resolve(dir, []byte("correct horse"), false, testParams)
	if err != nil || k2.master != k1.master {
		t.Fatalf("unlock = %v, %v", k2, err)
	}
	for _, c := range []struct {
		pass string
		want error
	}{{"", ErrKeyRequired}, {"wrong", ErrWrongKey}, {"correct horse ", ErrWrongKey}} {
		if _, err := Resolve(dir, []byte(c.pass), false, testParams); !errors.Is(err, c.want) || !errors.Is(err, ErrKey) {
			t.Fatalf("pass %q: err = %v, want %v", c.pass, err, c.want)
		}
	}
	if after := snapshotDir(t, dir); len(after) != len(before) || after[filepath.Join(dir, HeaderFile)] != before[filepath.Join(dir, HeaderFile)] {
		t.Fatal("a refused Resolve changed the dir")
	}
	if ErrWrongKey.Error() != "encryption key does not match this data dir" {
		t.Fatalf("message %q", ErrWrongKey)
	}
	// A second Create never replaces the header.
	if _, err := Create(dir, []byte("other"), testParams); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: err = %v", err)
	}
}

func TestRekey(t *testing.T) {
	dir := t.TempDir()
	k, err := Create(dir, []byte("old"), testParams)
	if err != nil {
		t.Fatal(err)
	}
	rec := k.Sealer("x").Seal(nil, []byte("data"), nil)
	if err := Rekey(dir, []byte("bad"), []byte("new"), testParams); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("rekey with a wrong key: err = %v", err)
	}
	if err := Rekey(dir, []byte("old"), []byte(""), testParams); err == nil {
		t.Fatal("rekey to an empty key accepted")
	}
	if err := Rekey(dir, []byte("old"), []byte("new"), testParams); err != nil {
		t.Fatal(err)
	}
	if _, err := Unlock(dir, []byte("old")); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old key after rekey: err = %v", err)
	}
	k2, err := Unlock(dir, []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.Sealer("x").Open(nil, rec, nil); err != nil || string(got) != "data" {
		t.Fatalf("data sealed before rekey: %q, %v", got, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("rekey left %d files", len(ents))
	}
}

func TestHeaderTampering(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(dir, []byte("pw"), testParams); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, HeaderFile)
	orig, _ := os.ReadFile(path)
	for _, c := range []struct{ from, to string }{
		{`"time": 1`, `"time": 2`},       // bound into the wrap
		{`"threads": 1`, `"threads": 2`}, // bound into the wrap
		{`"time": 1`, `"time": 100000`},  // out of bounds: refused before Argon2
		{`"memory_kib": 64`, `"memory_kib": 99999999`},
		{`"version": 1`, `"version": 9`},
		{`"format"`, `"formt"`},
	} {
		if !strings.Contains(string(orig), c.from) {
			t.Fatalf("header lacks %s:\n%s", c.from, orig)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(orig), c.from, c.to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Unlock(dir, []byte("pw")); err == nil {
			t.Fatalf("header with %s unlocked", c.to)
		}
	}
	os.WriteFile(path, []byte("{"), 0o600)
	if _, err := Unlock(dir, []byte("pw")); err == nil || errors.Is(err, ErrWrongKey) {
		t.Fatalf("malformed header: err = %v", err)
	}
}

// FuzzOpen: arbitrary bytes never open (and never panic) under a key
// they were not sealed with; under the right key Open and OpenInPlace
// agree. Seeds: a record of each seal version.
func FuzzOpen(f *testing.F) {
	s := KeysFromMaster([KeySize]byte{3}).Sealer("fuzz")
	f.Add(s.Seal(nil, []byte("hello"), []byte("ad")), []byte("ad"))
	f.Add(s.seal(sealV1, nil, []byte("hello"), []byte("ad")), []byte("ad"))
	f.Add([]byte{1, 2, 3}, []byte(nil))
	f.Fuzz(func(t *testing.T, b, ad []byte) {
		other := KeysFromMaster([KeySize]byte{4}).Sealer("fuzz")
		if p, err := other.Open(nil, b, ad); err == nil {
			t.Fatalf("opened %d bytes of random input", len(p))
		}
		p, err := s.Open(nil, b, ad)
		q, err2 := s.OpenInPlace(bytes.Clone(b), ad)
		if (err == nil) != (err2 == nil) || !bytes.Equal(p, q) {
			t.Fatalf("Open and OpenInPlace disagree: %v, %v", err, err2)
		}
		if err != nil && !errors.Is(err, ErrTampered) {
			t.Fatalf("error does not wrap ErrTampered: %v", err)
		}
	})
}
