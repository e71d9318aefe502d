package rawfile_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/rawfile"
)

func blobOf(i int) (chunk.ID, []byte) {
	data := []byte(fmt.Sprintf("lazy chunk %d %s", i, strings.Repeat("x", i%300)))
	return chunk.Sum(data), chunk.Encode(data)
}

// TestPutLazy: a lazily stored chunk reads back at once; Sync, a durable
// Put of the same id, and a Delete each leave nothing unsynced.
func TestPutLazy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	for i := range 10 {
		id, blob := blobOf(i)
		if err := s.PutLazy(ctx, id, blob); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chunk.Decode(id, got); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Unsynced(); n != 10 {
		t.Fatalf("unsynced = %d, want 10", n)
	}
	id0, blob0 := blobOf(0)
	if err := s.Put(ctx, id0, blob0); err != nil { // durable now
		t.Fatal(err)
	}
	id1, _ := blobOf(1)
	if err := s.Delete(ctx, id1); err != nil {
		t.Fatal(err)
	}
	if n := s.Unsynced(); n != 8 {
		t.Fatalf("unsynced after a Put and a Delete = %d, want 8", n)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.Unsynced(); n != 0 {
		t.Fatalf("unsynced after Sync = %d, want 0", n)
	}
	if u, _ := s.Usage(ctx); u.Chunks != 9 {
		t.Fatalf("usage %d chunks, want 9", u.Chunks)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "LOCK")); string(b) != "clean\n" {
		t.Fatalf("LOCK after Close = %q, want clean", b)
	}
	s = open(t, dir)
	defer s.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "LOCK")); string(b) != "open\n" {
		t.Fatalf("LOCK while open = %q, want open", b)
	}
}

// TestPutLazySurvivesKill9: chunks a writer process acknowledged after
// PutLazy (no Sync) are intact after it is killed with SIGKILL.
func TestPutLazySurvivesKill9(t *testing.T) {
	if dir := os.Getenv("RAWFILE_LAZY_CHILD"); dir != "" {
		s, err := rawfile.Open(dir)
		if err != nil {
			panic(err)
		}
		w := bufio.NewWriter(os.Stdout)
		for i := 0; ; i++ {
			id, blob := blobOf(i)
			if err := s.PutLazy(context.Background(), id, blob); err != nil {
				panic(err)
			}
			fmt.Fprintf(w, "ack %d\n", i)
			w.Flush()
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestPutLazySurvivesKill9$")
	cmd.Env = append(os.Environ(), "RAWFILE_LAZY_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	sc := bufio.NewScanner(out)
	stop := time.Now().Add(200 * time.Millisecond)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked, _ = strconv.Atoi(v)
		}
		if time.Now().After(stop) && acked >= 0 {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked, _ = strconv.Atoi(v)
		}
	}
	cmd.Wait()
	s := open(t, dir)
	defer s.Close()
	for i := 0; i <= acked; i++ {
		id, _ := blobOf(i)
		b, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("chunk %d of %d acknowledged: %v", i, acked+1, err)
		}
		if _, err := chunk.Decode(id, b); err != nil {
			t.Fatalf("chunk %d of %d acknowledged: %v", i, acked+1, err)
		}
	}
	t.Logf("%d lazily stored chunks acknowledged before kill -9, all intact", acked+1)
}

// TestPutLazyDefersDirSyncs: the fan-out directories a PutLazy makes are
// fsynced by the next Sync, not one by one as they are made; a durable
// Put fsyncs the ones on its way, whoever made them.
func TestPutLazyDefersDirSyncs(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	const n = 20
	for i := range n {
		id, blob := blobOf(i)
		if err := s.PutLazy(ctx, id, blob); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.DirSyncs(); got != 0 {
		t.Fatalf("%d PutLazy into a fresh store fsynced %d directories, want 0", n, got)
	}
	if got := s.UnsyncedDirs(); got == 0 {
		t.Fatal("no directory is left to sync after PutLazy made fan-out directories")
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.UnsyncedDirs(); got != 0 {
		t.Fatalf("%d directories unsynced after Sync", got)
	}
	if s.DirSyncs() < n { // at least each new leaf's parent or the leaf
		t.Fatalf("Sync fsynced %d directories for %d chunks in new directories", s.DirSyncs(), n)
	}

	// A lazy chunk in a new leaf, then a durable Put into a new leaf of
	// the same parent: that Put returns with the parent on disk, and with
	// it the lazy chunk's directory entry.
	lazyID, lazyBlob := blobOf(1000)
	if err := s.PutLazy(ctx, lazyID, lazyBlob); err != nil {
		t.Fatal(err)
	}
	var id chunk.ID
	var blob []byte
	for i := 1001; ; i++ {
		id, blob = blobOf(i)
		if id[0] == lazyID[0] && id[1] != lazyID[1] {
			break
		}
	}
	if err := s.Put(ctx, id, blob); err != nil {
		t.Fatal(err)
	}
	if got := s.UnsyncedDirs(); got != 0 {
		t.Fatalf("%d directories unsynced after a durable Put through them", got)
	}
	if got := s.Unsynced(); got != 1 {
		t.Fatalf("unsynced chunks = %d, want the lazy one", got)
	}
}
