package crdt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterf/clusterf/atrest"
)

// openJournaled opens a replica over meta.db and its journal in dir.
func openJournaled(tb testing.TB, dir string, keep func(*Op) bool) *Replica {
	tb.Helper()
	st, err := OpenBoltStore(filepath.Join(dir, "meta.db"))
	if err != nil {
		tb.Fatal(err)
	}
	j, err := OpenJournal(filepath.Join(dir, "meta.journal"))
	if err != nil {
		tb.Fatal(err)
	}
	r, err := Open(Options{Node: "n1", Store: st, Journal: j, KeepReplayed: keep})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// createTx is one transaction of three ops: a file f<i> (attr + move) and
// its xattr user.i, so a half-applied transaction shows as a file without
// the xattr.
func createTx(i int) func(tx *Tx) error {
	return func(tx *Tx) error {
		id, err := tx.Create(RootID, fmt.Sprintf("f%d", i), KindFile, NewAttrs{Mode: 0o644})
		if err != nil {
			return err
		}
		return tx.SetXattr(id, "user.i", []byte(strconv.Itoa(i)))
	}
}

// checkPrefix checks that the files present are f0..f<k-1> for some k,
// each with its xattr (no transaction half-applied), and returns k.
func checkPrefix(tb testing.TB, r *Replica, max int) int {
	tb.Helper()
	k := 0
	_ = r.View(func(v *View) error {
		gap := false
		for i := 0; i < max; i++ {
			e, err := v.Lookup(RootID, fmt.Sprintf("f%d", i))
			if err != nil {
				gap = true
				continue
			}
			if gap {
				tb.Errorf("f%d present after a missing file: not a prefix", i)
			}
			x, err := v.Xattr(e.Ref.Inode, "user.i")
			if err != nil || string(x) != strconv.Itoa(i) {
				tb.Errorf("f%d without its xattr (%q, %v): transaction half applied", i, x, err)
			}
			k = i + 1
		}
		return nil
	})
	return k
}

// copyDir copies the regular files of src into a new directory: what a
// crash of the process leaves (the page cache has every write).
func copyDir(tb testing.TB, src string) string {
	tb.Helper()
	dst := tb.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dst
}

// slowCommitter keeps the background committer from running during a test.
func slowCommitter(tb testing.TB) {
	d, e := commitDelay, checkpointEvery
	commitDelay, checkpointEvery = time.Hour, time.Hour
	tb.Cleanup(func() { commitDelay, checkpointEvery = d, e })
}

func TestJournalAsyncDurabilityAndServing(t *testing.T) {
	slowCommitter(t)
	r := openJournaled(t, t.TempDir(), nil)
	defer r.Close()
	ops, pos, err := r.UpdateAsync(createTx(0))
	if err != nil || len(ops) != 3 {
		t.Fatalf("UpdateAsync: %d ops, %v", len(ops), err)
	}
	released := false
	r.AfterDurable(pos, func() { released = true })
	if missing, _ := r.Missing(VersionVector{}, 0, 0); len(missing) != 0 || r.AllDurable() || released {
		t.Fatalf("before sync: %d ops served, AllDurable=%v, callback ran=%v; want none, false, false", len(missing), r.AllDurable(), released)
	}
	if err := r.WaitDurable(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	if missing, _ := r.Missing(VersionVector{}, 0, 0); len(missing) != 3 || !r.AllDurable() || !released {
		t.Fatalf("after sync: %d ops served, AllDurable=%v, callback ran=%v; want 3, true, true", len(missing), r.AllDurable(), released)
	}
}

func TestJournalCheckpointAndReopen(t *testing.T) {
	dir := t.TempDir()
	r := openJournaled(t, dir, nil)
	const n = 300
	for i := range n {
		if _, _, err := r.UpdateAsync(createTx(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := listSegments(filepath.Join(dir, "meta.journal")); len(segs) != 1 {
		t.Errorf("segments after Close: %v, want one", segs)
	}
	r2 := openJournaled(t, dir, nil)
	defer r2.Close()
	if len(r2.ckpt) != 0 {
		t.Errorf("after a clean Close the journal still held %d ops (all should be in meta.db)", len(r2.ckpt))
	}
	if k := checkPrefix(t, r2, n); k != n {
		t.Fatalf("after reopen %d files, want %d", k, n)
	}
}

// TestJournalTornTail cuts the journal of a crashed process at random
// places: the files that come back are always a prefix of the
// transactions, each whole, and cover everything before the cut.
func TestJournalTornTail(t *testing.T) {
	slowCommitter(t)
	dir := t.TempDir()
	r := openJournaled(t, dir, nil)
	const n = 200
	for i := range n {
		if _, _, err := r.UpdateAsync(createTx(i)); err != nil {
			t.Fatal(err)
		}
	}
	image := copyDir(t, dir) // the files as a kill -9 now would leave them
	r.Close()
	seg := filepath.Join(image, "meta.journal.1")
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	last := n
	for _, cut := range []int{len(full), len(full) - 1, 0, 17, rng.IntN(len(full)), rng.IntN(len(full)), rng.IntN(len(full))} {
		d := copyDir(t, image)
		if err := os.WriteFile(filepath.Join(d, "meta.journal.1"), full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		r := openJournaled(t, d, nil)
		k := checkPrefix(t, r, n)
		if cut == len(full) && k != n {
			t.Errorf("whole journal: %d files, want %d", k, n)
		}
		if k > last && cut < len(full) {
			t.Errorf("cut at %d: %d files", cut, k)
		}
		// Appending after a torn tail works and survives a reopen.
		if _, err := r.Update(createTx(k)); err != nil {
			t.Fatal(err)
		}
		r.Close()
		r = openJournaled(t, d, nil)
		if got := checkPrefix(t, r, n+1); got != k+1 {
			t.Errorf("cut at %d: %d files after appending one more, want %d", cut, got, k+1)
		}
		r.Close()
	}
}

// TestJournalDropsUnmarkedOpsWhoseDataIsGone: after a power loss, a local
// op written after the last durable mark whose data did not survive
// (KeepReplayed false) is dropped with every later record; ops before
// the mark stay whatever KeepReplayed says.
func TestJournalDropsUnmarkedOpsWhoseDataIsGone(t *testing.T) {
	slowCommitter(t)
	dir := t.TempDir()
	r := openJournaled(t, dir, nil)
	for i := range 5 {
		if _, _, err := r.UpdateAsync(createTx(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Sync(context.Background()); err != nil { // mark after f0..f4
		t.Fatal(err)
	}
	for i := 5; i < 10; i++ {
		if _, _, err := r.UpdateAsync(createTx(i)); err != nil {
			t.Fatal(err)
		}
	}
	image := copyDir(t, dir)
	r.Close()
	gone := func(name string) func(*Op) bool {
		return func(op *Op) bool { return op.Move == nil || op.Move.Name != name }
	}
	for _, tc := range []struct {
		lost string
		want int
	}{{"f7", 7}, {"f2", 10}, {"f5", 5}, {"none", 10}} {
		r := openJournaled(t, copyDir(t, image), gone(tc.lost))
		if k := checkPrefix(t, r, 10); k != tc.want {
			t.Errorf("data of %s lost: %d files, want %d", tc.lost, k, tc.want)
		}
		r.Close()
	}
}

// TestJournalSurvivesKill9 runs a writer process that acknowledges each
// UpdateAsync on stdout, kills it with SIGKILL at a random moment
// (checkpoints run every 20 ms meanwhile) and reopens its files: every
// acknowledged transaction is there, nothing is half applied.
func TestJournalSurvivesKill9(t *testing.T) {
	if dir := os.Getenv("CRDT_JOURNAL_CHILD"); dir != "" {
		journalChild(dir)
		return
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 4 {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run", "^TestJournalSurvivesKill9$")
		cmd.Env = append(os.Environ(), "CRDT_JOURNAL_CHILD="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := -1
		sc := bufio.NewScanner(out)
		deadline := time.Now().Add(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				acked, _ = strconv.Atoi(v)
			}
			if time.Now().After(deadline) && acked >= 0 {
				break
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for sc.Scan() { // acks written before the kill count too
			if v, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				acked, _ = strconv.Atoi(v)
			}
		}
		cmd.Wait()
		if acked < 0 {
			t.Fatalf("round %d: the writer acknowledged nothing", round)
		}
		r := openJournaled(t, dir, nil)
		k := checkPrefix(t, r, acked+1000)
		r.Close()
		t.Logf("round %d: %d acknowledged, %d present", round, acked+1, k)
		if k < acked+1 {
			t.Fatalf("round %d: %d transactions acknowledged, only %d survived kill -9", round, acked+1, k)
		}
	}
}

func journalChild(dir string) {
	checkpointEvery = 20 * time.Millisecond
	checkpointOps = 500
	st, err := OpenBoltStore(filepath.Join(dir, "meta.db"))
	if err != nil {
		panic(err)
	}
	j, err := OpenJournal(filepath.Join(dir, "meta.journal"))
	if err != nil {
		panic(err)
	}
	r, err := Open(Options{Node: "n1", Store: st, Journal: j})
	if err != nil {
		panic(err)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		if _, _, err := r.UpdateAsync(createTx(i)); err != nil {
			panic(err)
		}
		fmt.Fprintf(w, "ack %d\n", i)
		w.Flush()
	}
}

// TestJournalSealed: with a sealer no name reaches the journal in the
// clear; the records replay with the key and refuse to open without it.
func TestJournalSealed(t *testing.T) {
	slowCommitter(t)
	seal := atrest.KeysFromMaster([32]byte{5}).Sealer("meta.db")
	dir := t.TempDir()
	open := func(d string, s Sealer) (*Replica, error) {
		var bo []BoltOption
		var jo []JournalOption
		if s != nil {
			bo, jo = []BoltOption{WithSealer(s)}, []JournalOption{JournalSealer(s)}
		}
		st, err := OpenBoltStore(filepath.Join(d, "meta.db"), bo...)
		if err != nil {
			return nil, err
		}
		j, err := OpenJournal(filepath.Join(d, "meta.journal"), jo...)
		if err != nil {
			st.Close()
			return nil, err
		}
		r, err := Open(Options{Node: "n1", Store: st, Journal: j})
		if err != nil {
			j.Close()
			st.Close()
		}
		return r, err
	}
	r, err := open(dir, seal)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.UpdateAsync(func(tx *Tx) error {
		_, err := tx.Create(RootID, "secret-name", KindFile, NewAttrs{Mode: 0o644})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	image := copyDir(t, dir) // crashed: the op is in the journal only
	r.Close()
	b, err := os.ReadFile(filepath.Join(image, "meta.journal.1"))
	if err != nil || len(b) == 0 {
		t.Fatalf("journal segment: %d bytes, %v", len(b), err)
	}
	if bytes.Contains(b, []byte("secret-name")) {
		t.Fatal("a name reached the journal in the clear")
	}
	if _, err := open(copyDir(t, image), atrest.KeysFromMaster([32]byte{6}).Sealer("meta.db")); err == nil {
		t.Fatal("journal opened with another key")
	}
	r, err = open(copyDir(t, image), seal)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.View(func(v *View) error { _, err := v.Lookup(RootID, "secret-name"); return err }); err != nil {
		t.Fatalf("sealed journal replay: %v", err)
	}
}
