package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
)

// Encryption at rest (issue 18) with real processes: the data dir holds
// nothing readable, wrong keys are refused without touching it, rekey is
// O(1), tampering is an error, never data.

const (
	encKey  = "correct horse battery staple"
	encName = "quarterly-secret-report-7f3a.txt"
	encMark = "PLAINTEXT-MARKER-3c1d-never-on-disk"
)

// dirState is every file under dir with a hash of its content (what
// "nothing touched" compares).
func dirState(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.Sum256(b)
			m[p] = hex.EncodeToString(h[:])
		}
		return nil
	})
	return m
}

// grepDir fails t if any file under dir holds (or any path names) one of
// the needles.
func grepDir(t testing.TB, dir string, needles map[string][]byte) {
	t.Helper()
	files := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		for what, n := range needles {
			if strings.Contains(p, string(n)) {
				t.Errorf("path %s holds %s", p, what)
			}
		}
		if !d.Type().IsRegular() {
			return nil
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for what, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds %s", p, what)
			}
		}
		return nil
	})
	if files < 5 {
		t.Fatalf("only %d files under %s", files, dir)
	}
}

// markedData is n random bytes with encMark written every 64 KiB.
func markedData(n int, seed byte) []byte {
	b := randomBytes(n, seed)
	for off := 1000; off+len(encMark) < n; off += 64 << 10 {
		copy(b[off:], encMark)
	}
	return b
}

// needlesFor is what must not appear on an encrypted disk: the marker,
// the file name, and the plain BLAKE3 ids of data's chunks (raw and hex).
func needlesFor(data []byte, chunkSize int) map[string][]byte {
	m := map[string][]byte{"the plaintext marker": []byte(encMark), "the file name": []byte(encName)}
	for i := 0; i*chunkSize < len(data); i++ {
		id := chunk.Sum(data[i*chunkSize : min((i+1)*chunkSize, len(data))])
		m["chunk id "+id.String()[:8]] = id[:]
		m["chunk id hex "+id.String()[:8]] = []byte(id.String())
	}
	return m
}

func keyEnv(k string) []string { return []string{"CLUSTERF_ENCRYPTION_KEY=" + k} }

// refused runs a node that must refuse to start (exit 2, message) and
// leave the node dir as it was.
func refused(t *testing.T, nodeDir string, want string, args ...string) {
	t.Helper()
	before := dirState(t, nodeDir)
	r := RunBinary(t, 30*time.Second, append([]string{"serve", "--discovery-port", "0", "--http-port", "0"}, args...)...)
	if r.ExitCode != 2 || !strings.Contains(r.Stderr, want) {
		t.Fatalf("clusterf %s: exit %d, want 2 and %q:\n%s", strings.Join(args, " "), r.ExitCode, want, r.Combined())
	}
	if after := dirState(t, nodeDir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused start changed %s", nodeDir)
	}
}

// TestEncryptedNode: write through FUSE and REST on an encrypted node;
// nothing readable on disk (also staging and meta.db); restart with the
// key reads everything back; wrong, missing and extra keys are refused
// with nothing changed; rekey works and retires the old passphrase; a
// flipped byte in a chunk or a meta.db record is an error, never data.
func TestEncryptedNode(t *testing.T) {
	port := freeTCPPort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	// No staging memory: the bytes of a file being written go to a
	// staging file, which must be sealed too.
	n := StartNode(t, NodeOptions{NodeID: "enc1", Env: keyEnv(encKey),
		ExtraArgs: []string{"--http-port", strconv.Itoa(port), "--staging-memory", "0"}})
	mnt, nd := n.Mountpoint(), n.NodeDir()
	eventually(t, 10*time.Second, "the banner says the node is encrypted", func() string {
		if !strings.Contains(n.Stderr(), "at rest:   encrypted") {
			return "no 'at rest: encrypted' line yet"
		}
		return ""
	})
	const cs = 4 << 20
	big := markedData(6<<20, 1) // two chunks, incompressible: a plain store holds the marker as is
	writeFileSync(t, filepath.Join(mnt, encName), big, 0o644)
	small := []byte("inline " + encMark) // inline in meta.db
	writeFileSync(t, filepath.Join(mnt, "small.txt"), small, 0o644)
	viaREST := markedData(300<<10, 2)
	if code, body := httpDo(t, "PUT", base+"/api/files/rest/"+encName, viaREST); code != 201 {
		t.Fatalf("REST PUT: %d %s", code, body)
	}
	// A file being written: its bytes sit in a staging file until close.
	open, err := os.OpenFile(filepath.Join(mnt, "open.bin"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open.Write(markedData(200<<10, 3)); err != nil {
		t.Fatal(err)
	}
	needles := needlesFor(big, cs)
	for k, v := range needlesFor(viaREST, cs) {
		needles["REST "+k] = v
	}
	grepDir(t, nd, needles)
	grepStagingFiles(t, n.Pid(), needles)
	open.Close()
	n.Stop()
	grepDir(t, nd, needles)

	n.Restart()
	requireContent(t, filepath.Join(mnt, encName), big)
	requireContent(t, filepath.Join(mnt, "small.txt"), small)
	if code, got := httpDo(t, "GET", base+"/api/files/rest/"+encName, nil); code != 200 || !bytes.Equal(got, viaREST) {
		t.Fatalf("REST GET after restart: %d, %d bytes", code, len(got))
	}
	n.Stop()

	id := []string{"--data-dir", n.DataDir(), "--node-id", n.NodeID()}
	refused(t, nd, "encryption key does not match this data dir", append(id, "--encryption-key", "wrong")...)
	refused(t, nd, "this data dir is encrypted", id...)

	// rekey: O(1), the old passphrase no longer opens the dir.
	before := dirState(t, nd)
	r := RunBinary(t, 30*time.Second, append([]string{"rekey", "--encryption-key", encKey, "--new-encryption-key", "new passphrase"}, id...)...)
	if r.ExitCode != 0 {
		t.Fatalf("rekey: exit %d\n%s", r.ExitCode, r.Combined())
	}
	for p, h := range dirState(t, nd) {
		if filepath.Base(p) != atrest.HeaderFile && before[p] != h {
			t.Errorf("rekey changed %s", p)
		}
	}
	refused(t, nd, "does not match", append(id, "--encryption-key", encKey)...)
	kf := filepath.Join(t.TempDir(), "key")
	os.WriteFile(kf, []byte("new passphrase\n"), 0o600)
	n.opts.Env = nil
	n.opts.ExtraArgs = append(n.opts.ExtraArgs, "--encryption-key-file", kf)
	n.Restart()
	requireContent(t, filepath.Join(mnt, encName), big)
	n.Stop()

	// A flipped byte in a chunk: EIO, never other bytes.
	flipChunkByte(t, nd)
	n.Restart()
	_, err = os.ReadFile(filepath.Join(mnt, encName))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of a tampered chunk: %v, want EIO", err)
	}
	if !strings.Contains(n.Stderr(), "failed authentication") {
		t.Errorf("the node did not log why:\n%s", tail(n.Stderr(), 2000))
	}
	n.Stop()

	// A flipped byte in a meta.db record: a clear error at start.
	flipMetaRecord(t, filepath.Join(nd, "meta.db"))
	r = RunBinary(t, 30*time.Second, append([]string{"serve", "--discovery-port", "0", "--encryption-key-file", kf}, id...)...)
	if r.ExitCode == 0 || !strings.Contains(r.Stderr, "failed authentication") {
		t.Fatalf("start with a tampered meta.db: exit %d\n%s", r.ExitCode, r.Combined())
	}
}

// TestKeyForPlainDir: a key for a dir that ran without one is refused,
// nothing changed.
func TestKeyForPlainDir(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--node-id", "plain"}
	r := RunBinary(t, 5*time.Second, append([]string{"serve", "--discovery-port", "0", "--http-port", "0"}, args...)...)
	if !r.TimedOut {
		t.Fatalf("plain node did not run: %s", r.Combined())
	}
	refused(t, filepath.Join(dir, "plain"), "created without encryption", append(args, "--encryption-key", "k")...)
	kf := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(kf, nil, 0o600)
	if r := RunBinary(t, 10*time.Second, append([]string{"serve", "--encryption-key-file", kf}, args...)...); r.ExitCode != 2 || !strings.Contains(r.Stderr, "empty") {
		t.Fatalf("empty key file: exit %d %s", r.ExitCode, r.Combined())
	}
}

// grepStagingFiles reads the node's open, unlinked staging files through
// /proc and fails t if they hold a needle.
func grepStagingFiles(t *testing.T, pid int, needles map[string][]byte) {
	t.Helper()
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil || !strings.Contains(target, "/staging/") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(fdDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		found++
		if len(b) < 100<<10 {
			t.Fatalf("staging file %s holds only %d bytes", target, len(b))
		}
		for what, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("staging file %s holds %s", target, what)
			}
		}
		if bytes.Contains(b, []byte(encMark)) {
			t.Errorf("staging file %s holds the marker", target)
		}
	}
	if found == 0 {
		t.Fatal("no staging file open")
	}
}

// flipChunkByte flips a byte in the middle of the largest chunk file.
func flipChunkByte(t *testing.T, nodeDir string) {
	t.Helper()
	var path string
	var size int64
	filepath.WalkDir(filepath.Join(nodeDir, "chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && len(d.Name()) == 64 {
			if fi, _ := d.Info(); fi.Size() > size {
				path, size = p, fi.Size()
			}
		}
		return nil
	})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// flipMetaRecord flips a byte of a stored value in meta.db (through bbolt,
// so the file stays a valid bbolt file).
func flipMetaRecord(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		flipped := false
		err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if flipped {
				return nil
			}
			k, v := b.Cursor().First()
			if k == nil || v == nil {
				return nil
			}
			v = bytes.Clone(v)
			v[len(v)/2] ^= 0x01
			flipped = true
			return b.Put(k, v)
		})
		if err == nil && !flipped {
			err = errors.New("no record to flip")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
