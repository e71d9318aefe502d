package extent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/chunktest"
)

var small = Options{SegmentSize: 64 << 10, NoAutoCompact: true}

func open(t testing.TB, dir string, opt Options) *Store {
	t.Helper()
	s, err := OpenOptions(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	for name, opt := range map[string]Options{"default": {}, "small-segments": small} {
		t.Run(name, func(t *testing.T) {
			chunktest.Suite(t, func(t *testing.T, dir string) chunk.Store { return open(t, dir, opt) },
				chunktest.WithCorrupt(func(t *testing.T, dir string, id chunk.ID) {
					s := open(t, dir, opt)
					s.mu.RLock()
					l := s.index[id]
					s.mu.RUnlock()
					path := l.seg.path
					off := l.off + hdrSize + int64(l.n)/2
					s.Close()
					f, err := os.OpenFile(path, os.O_RDWR, 0)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					b := make([]byte, 1)
					f.ReadAt(b, off)
					b[0] ^= 0x40
					if _, err := f.WriteAt(b, off); err != nil {
						t.Fatal(err)
					}
				}))
		})
	}
}

func putAll(t *testing.T, s *Store, cs []chunktest.Chunk) {
	t.Helper()
	for _, c := range cs {
		if err := s.Put(context.Background(), c.ID, c.Blob); err != nil {
			t.Fatal(err)
		}
	}
}

func mustHave(t *testing.T, s *Store, cs ...chunktest.Chunk) {
	t.Helper()
	for _, c := range cs {
		b, err := s.Get(context.Background(), c.ID)
		if err != nil {
			t.Fatalf("Get %s: %v", c.ID, err)
		}
		if _, err := chunk.Decode(c.ID, b); err != nil {
			t.Fatal(err)
		}
	}
}

func segFiles(t *testing.T, dir string) (segs, hints int, bytes int64) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fi, _ := e.Info()
		switch filepath.Ext(e.Name()) {
		case segExt:
			segs++
			bytes += fi.Size()
		case hintExt:
			hints++
		}
	}
	return
}

// TestTornTail: garbage and a half-written record after the last good
// record are cut at Open; everything before survives.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{NoAutoCompact: true})
	var cs []chunktest.Chunk
	for i := range 20 {
		cs = append(cs, chunktest.RandomChunk(uint64(i), 1000+i))
	}
	putAll(t, s, cs)
	active := s.segs[len(s.segs)-1].path
	s.Close()
	fi, _ := os.Stat(active)
	good := fi.Size()
	half := chunktest.RandomChunk(99, 5000)
	rec := append(header(kindPut, half.ID, half.Blob), half.Blob...)
	for _, tail := range [][]byte{rec[:len(rec)/2], rec[:10], bytes.Repeat([]byte{0xff}, 100)} {
		f, _ := os.OpenFile(active, os.O_WRONLY|os.O_APPEND, 0)
		f.Write(tail)
		f.Close()
		s = open(t, dir, Options{NoAutoCompact: true})
		mustHave(t, s, cs...)
		if ok, _ := s.Has(context.Background(), half.ID); ok {
			t.Fatal("torn record indexed")
		}
		u, _ := s.Usage(context.Background())
		if u.Chunks != 20 {
			t.Fatalf("Usage = %+v", u)
		}
		s.Close()
		if fi, _ := os.Stat(active); fi.Size() != good {
			t.Fatalf("segment is %d bytes after reopen, want %d", fi.Size(), good)
		}
	}
}

// TestRestartReadsHints: a restart reads the hint of every sealed segment
// and scans only the active one (counted); a missing or stale hint makes
// that segment scanned once and its hint written again.
func TestRestartReadsHints(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, small)
	var cs []chunktest.Chunk
	for i := range 200 {
		cs = append(cs, chunktest.RandomChunk(uint64(5000+i), 3000))
	}
	putAll(t, s, cs)
	s.Close()
	nsegs, nhints, _ := segFiles(t, dir)
	if nsegs < 5 || nhints != nsegs-1 {
		t.Fatalf("%d segments, %d hints", nsegs, nhints)
	}
	s = open(t, dir, small)
	if s.scans != 1 {
		t.Fatalf("restart scanned %d of %d segments, want only the active one", s.scans, nsegs)
	}
	mustHave(t, s, cs...)
	first := s.segs[0].path
	second := s.segs[1].path
	s.Close()

	if err := os.Remove(first + hintExt); err != nil {
		t.Fatal(err)
	}
	hint, err := os.ReadFile(second + hintExt)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(second+hintExt, hint[:len(hint)-3], 0o600); err != nil { // stale / cut
		t.Fatal(err)
	}
	s = open(t, dir, small)
	if s.scans != 3 {
		t.Fatalf("restart without two hints scanned %d segments, want 3", s.scans)
	}
	mustHave(t, s, cs...)
	s.Close()
	s = open(t, dir, small)
	defer s.Close()
	if s.scans != 1 {
		t.Fatalf("the hints were not written again: the next restart scanned %d segments", s.scans)
	}
	mustHave(t, s, cs...)
}

// TestCompaction: deleting most chunks and compacting shrinks the files;
// what is left reads back, also after reopening, and deleted chunks stay
// deleted.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, small)
	ctx := context.Background()
	var keep, drop []chunktest.Chunk
	for i := range 300 {
		c := chunktest.RandomChunk(uint64(1000+i), 3000)
		if i%5 == 0 {
			keep = append(keep, c)
		} else {
			drop = append(drop, c)
		}
		putAll(t, s, []chunktest.Chunk{c})
	}
	nsegs, nhints, before := segFiles(t, dir)
	if nsegs < 10 || nhints != nsegs-1 {
		t.Fatalf("%d segments, %d hints", nsegs, nhints)
	}
	for _, c := range drop {
		if err := s.Delete(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	_, _, after := segFiles(t, dir)
	if after > before/2 {
		t.Fatalf("compaction left %d of %d bytes", after, before)
	}
	mustHave(t, s, keep...)
	want, _ := s.Usage(ctx)
	s.Close()
	s = open(t, dir, small)
	defer s.Close()
	mustHave(t, s, keep...)
	for _, c := range drop {
		if ok, _ := s.Has(ctx, c.ID); ok {
			t.Fatalf("deleted chunk %s back after compaction and reopen", c.ID)
		}
	}
	if got, _ := s.Usage(ctx); got != want {
		t.Fatalf("Usage after reopen %+v, before %+v", got, want)
	}
}

// TestCompactionKeepsTombstones: a tombstone for a chunk whose put lives
// in an older segment survives compaction of its own segment.
func TestCompactionKeepsTombstones(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, small)
	ctx := context.Background()
	a := chunktest.RandomChunk(1, 30000)
	filler := func(seed uint64) {
		for i := range 5 {
			putAll(t, s, []chunktest.Chunk{chunktest.RandomChunk(seed+uint64(i), 20000)})
		}
	}
	putAll(t, s, []chunktest.Chunk{a})
	filler(100) // a's segment is sealed
	if err := s.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	// Fill the tombstone's segment with garbage and seal it.
	var junk []chunktest.Chunk
	for i := range 3 {
		c := chunktest.RandomChunk(200+uint64(i), 20000)
		junk = append(junk, c)
	}
	putAll(t, s, junk)
	for _, c := range junk {
		s.Delete(ctx, c.ID)
	}
	filler(300)
	// Compact only segments after the first (the oldest holds a's put and
	// is mostly live).
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir, small)
	defer s.Close()
	if ok, _ := s.Has(ctx, a.ID); ok {
		t.Fatal("a deleted chunk came back: its tombstone was dropped")
	}
}

func TestCompactionNeedsRoom(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, small)
	defer s.Close()
	ctx := context.Background()
	var cs []chunktest.Chunk
	for i := range 60 {
		cs = append(cs, chunktest.RandomChunk(uint64(i), 4000))
	}
	putAll(t, s, cs)
	for _, c := range cs[:50] {
		s.Delete(ctx, c.ID)
	}
	_, _, before := segFiles(t, dir)
	old := freeSpace
	freeSpace = func(string) (int64, error) { return small.SegmentSize - 1, nil }
	err := s.Compact(ctx)
	freeSpace = old
	if !errors.Is(err, ErrNoRoom) {
		t.Fatalf("Compact without room: err = %v", err)
	}
	if _, _, after := segFiles(t, dir); after != before {
		t.Fatal("a refused compaction changed the segments")
	}
	mustHave(t, s, cs[50:]...)
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCompactionCrashSteps: every state a compaction passes through on
// disk (output written but not renamed; renamed without hint; both
// segments present) opens to the same chunks.
func TestCompactionCrashSteps(t *testing.T) {
	ctx := context.Background()
	build := func(t *testing.T) (string, []chunktest.Chunk, *segment) {
		dir := t.TempDir()
		s := open(t, dir, small)
		var keep []chunktest.Chunk
		for i := range 40 {
			c := chunktest.RandomChunk(uint64(500+i), 5000)
			putAll(t, s, []chunktest.Chunk{c})
			if i%2 == 0 {
				keep = append(keep, c)
			} else {
				s.Delete(ctx, c.ID)
			}
		}
		seg, oldest := s.candidate()
		if seg == nil || !oldest {
			t.Fatal("no candidate")
		}
		es, err := s.entries(seg)
		if err != nil {
			t.Fatal(err)
		}
		outID := segID{major: seg.id.major, minor: seg.id.minor + 1}
		f, _ := os.Create(filepath.Join(dir, outID.name()) + tmpExt)
		out := &segment{id: outID, f: f, path: filepath.Join(dir, outID.name())}
		if _, _, err := s.copyLive(seg, out, es, oldest); err != nil {
			t.Fatal(err)
		}
		f.Close()
		s.Close()
		return dir, keep, out
	}
	steps := map[string]func(dir string, out *segment){
		"output-not-renamed": func(string, *segment) {},
		"renamed-no-hint":    func(_ string, out *segment) { os.Rename(out.path+tmpExt, out.path) },
		"renamed-with-hint": func(_ string, out *segment) {
			os.Rename(out.path+tmpExt, out.path)
			os.WriteFile(out.path+hintExt, encodeHint(out.size, out.entries), 0o600)
		},
	}
	for name, step := range steps {
		t.Run(name, func(t *testing.T) {
			dir, keep, out := build(t)
			step(dir, out)
			s := open(t, dir, small)
			defer s.Close()
			mustHave(t, s, keep...)
			u, _ := s.Usage(ctx)
			var want int64
			for _, c := range keep {
				want += int64(len(c.Blob))
			}
			if u.Chunks != int64(len(keep)) || u.Bytes != want {
				t.Fatalf("Usage = %+v, want %d chunks, %d bytes", u, len(keep), want)
			}
			if err := s.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			mustHave(t, s, keep...)
		})
	}
}

func BenchmarkPut4MiB(b *testing.B) {
	chunktest.BenchPut(b, func(b *testing.B, dir string) chunk.Store { return open(b, dir, Options{}) })
}
