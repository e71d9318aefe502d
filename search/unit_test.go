package search

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/clusterf/clusterf/crdt"
)

func TestWords(t *testing.T) {
	cases := []struct {
		in    string
		camel bool
		want  []string
	}{
		{"Vacation_2024-07.JPG", true, []string{"vacation", "2024", "07", "jpg"}},
		{"vacationPhotos.zip", true, []string{"vacation", "photos", "zip"}},
		{"vacationPhotos.zip", false, []string{"vacationphotos", "zip"}},
		{"HTTPServer2go", true, []string{"http", "server", "2", "go"}},
		{"summer vacation.mov", true, []string{"summer", "vacation", "mov"}},
		{"cafe\u0301 menu", true, []string{"caf\u00e9", "menu"}}, // NFD in, NFC out
		{"ÄrgerÜber", true, []string{"ärger", "über"}},
		{"日本語.txt", true, []string{"日本語", "txt"}},
		{"--__..", true, nil},
		{strings.Repeat("a", 65) + " b", true, []string{"b"}}, // over-long tokens dropped
	}
	for _, c := range cases {
		if got := words(c.in, c.camel); !slices.Equal(got, c.want) {
			t.Errorf("words(%q, %v) = %q, want %q", c.in, c.camel, got, c.want)
		}
	}
}

func TestSuffixes(t *testing.T) {
	var got []string
	for _, tk := range suffixTokens("Vacation-ab vacationBeach") {
		got = append(got, string(tk.Term))
	}
	want := []string{"acation", "cation", "ation", "tion", "ion", "each", "ach"} // the words themselves are in the name field
	if !slices.Equal(got, want) {
		t.Errorf("suffixes: %q", got)
	}
	if n := len(suffixTokens(strings.Repeat("x", 40))); n != maxSuffixToken-3 { // of the first 32 characters
		t.Errorf("suffixes of a long word: %d", n)
	}
}

func TestPrefixes(t *testing.T) {
	var got []string
	for _, tk := range prefixTokens("Vacation-ab vacationBeach IMG_20240714 é") {
		got = append(got, string(tk.Term))
	}
	// Proper prefixes of up to four characters, each once.
	want := []string{"v", "va", "vac", "vaca", "a", "b", "be", "bea", "beac", "i", "im", "2", "20", "202", "2024"}
	if !slices.Equal(got, want) {
		t.Errorf("prefixes: %q", got)
	}
}

func TestLex(t *testing.T) {
	cs, err := lex(`beach -draft name:"summer trip" size:>10MB foto* a OR b`)
	if err != nil {
		t.Fatal(err)
	}
	want := []clause{{value: "beach"}, {neg: true, value: "draft"}, {field: "name", value: "summer trip", phrase: true},
		{field: "size", value: ">10MB"}, {value: "foto*"}, {value: "a"}, {or: true}, {value: "b"}}
	if !slices.Equal(cs, want) {
		t.Errorf("lex: %+v", cs)
	}
	for _, bad := range []string{`"open`, strings.Repeat("y", MaxQueryBytes+1), strings.Repeat("w ", maxClauses+1),
		strings.Repeat("z", maxWordBytes+1), "\xff"} {
		if _, err := lex(bad); !IsQueryError(err) {
			t.Errorf("lex(%.30q): %v", bad, err)
		}
	}
}

// A word the index cannot hold (longer than maxTokenLen) is refused with
// that reason, not as a word without letters.
func TestOverlongWordRefused(t *testing.T) {
	cp := &compiler{}
	for _, q := range []string{strings.Repeat("abcdefghij", 7), "name:" + strings.Repeat("x", maxTokenLen+1)} {
		_, err := cp.compile(q)
		if !IsQueryError(err) || !strings.Contains(err.Error(), "not indexed") {
			t.Errorf("%.20q: %v", q, err)
		}
	}
	if _, err := cp.compile("---"); !IsQueryError(err) || !strings.Contains(err.Error(), "no letters or digits") {
		t.Errorf("---: %v", err)
	}
	if _, err := cp.compile(strings.Repeat("x", maxTokenLen)); err != nil {
		t.Errorf("a word of maxTokenLen bytes: %v", err)
	}
}

func TestRanges(t *testing.T) {
	for _, c := range []struct {
		in        string
		val, unit float64
	}{{"10MB", 10 << 20, 1 << 20}, {"1.5g", 1.5 * (1 << 30), 1 << 30}, {"300", 300, 0}, {"2 KiB", 2048, 1024}} {
		v, w, err := parseSize(c.in)
		if err != nil || v != c.val || w != c.unit {
			t.Errorf("parseSize(%q) = %v %v %v", c.in, v, w, err)
		}
	}
	for _, bad := range []string{"", "big", "-1", "10XB", "1e400"} {
		if _, _, err := parseSize(bad); !IsQueryError(err) {
			t.Errorf("parseSize(%q): %v", bad, err)
		}
	}
	for in, want := range map[string]float64{"90": 90, "3m": 180, "1:30": 90, "1:02:03": 3723, "1h30m": 5400} {
		if v, _, err := parseDuration(in); err != nil || v != want {
			t.Errorf("parseDuration(%q) = %v %v", in, v, err)
		}
	}
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in         string
		start, end time.Time
	}{
		{"2026", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-07", time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-07-14", time.Date(2026, 7, 14, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 15, 0, 0, 0, 0, time.UTC)},
		{"today", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)},
		{"7d", now.AddDate(0, 0, -7), now.AddDate(0, 0, -7)},
	} {
		s, e, err := parseDate(c.in, now)
		if err != nil || !s.Equal(c.start) || !e.Equal(c.end) {
			t.Errorf("parseDate(%q) = %v %v %v", c.in, s, e, err)
		}
	}
	if _, _, err := parseDate("soon", now); !IsQueryError(err) {
		t.Errorf("parseDate(soon): %v", err)
	}
}

func TestTypeOf(t *testing.T) {
	for _, c := range []struct {
		name string
		head []byte
		want string
	}{
		{"a.md", []byte("# title"), "text/markdown"},
		{"a.go", []byte("package main"), "text/x-go"},
		{"noext", []byte("%PDF-1.4 ..."), "application/pdf"},
		{"photo.bin", []byte("\xff\xd8\xff\xe0"), "image/jpeg"},
		{"a.mp3", []byte("ID3\x04"), "audio/mpeg"},
		{"blob", []byte{0, 1, 2, 3}, "application/octet-stream"},
	} {
		if got := typeOf(c.name, c.head); got != c.want {
			t.Errorf("typeOf(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

// An index of an older format is rebuilt at open.
func TestOlderFormatRebuilt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "search")
	idx, err := createStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.SetInternal(keyFormat, []byte("clusterf-search-1")); err != nil {
		t.Fatal(err)
	}
	closeStore(idx, discard())
	idx, why, err := openStore(dir, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if !strings.Contains(why, `format "clusterf-search-1"`) {
		t.Errorf("rebuilt: %q", why)
	}
	if f, _ := idx.GetInternal(keyFormat); string(f) != FormatVersion {
		t.Errorf("format after rebuild %q", f)
	}
}

// A directory holding foreign files is never deleted as an index.
func TestRemoveStoreRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(filepath.Join(dir, "precious.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := removeStore(dir); err == nil || !strings.Contains(err.Error(), "precious.jpg") {
		t.Errorf("removeStore: %v", err)
	}
}

func TestExtractRequestDecoding(t *testing.T) {
	req := extractRequest{Inode: crdt.RootID, Version: crdt.OpID{Node: "n", Seq: 3}, Name: "a.txt", MaxText: 10, MaxFile: 100}
	b, _ := cbor.Marshal(req)
	got, err := decodeExtractRequest(b)
	if err != nil || got != req {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range []extractRequest{{}, {Inode: crdt.RootID}, {Inode: crdt.RootID, Version: req.Version, MaxText: -5},
		{Inode: crdt.RootID, Version: req.Version, Name: strings.Repeat("n", 300)}} {
		b, _ := cbor.Marshal(bad)
		if _, err := decodeExtractRequest(b); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := decodeExtractRequest(bytes.Repeat([]byte{0x9f}, 5000)); err == nil {
		t.Error("oversized request accepted")
	}
	x, _ := cbor.Marshal(Extracted{Text: strings.Repeat("é", 100), Camera: "Canon"})
	got2, err := decodeExtracted(x, 11)
	if err != nil || len(got2.Text) > 11 || got2.Camera != "Canon" {
		t.Errorf("answer: %+v %v", got2, err)
	}
}

func TestDurations(t *testing.T) {
	// FLAC STREAMINFO: 44100 Hz, 88200 samples = 2 s.
	si := make([]byte, 34)
	si[10], si[11], si[12] = 0x0A, 0xC4, 0x42 // 44100<<4 | channels/bps bits
	si[13] = 0xF0
	si[14], si[15], si[16], si[17] = 0, 1, 0x58, 0x88 // 88200
	flac := append(append([]byte("fLaC"), 0x80, 0, 0, 34), si...)
	if d, err := duration(bytes.NewReader(flac), int64(len(flac))); err != nil || d != 2*time.Second {
		t.Errorf("flac: %v %v", d, err)
	}
	for _, junk := range [][]byte{[]byte("fLaC"), []byte("\x00\x00\x00\x08ftypisom"), []byte("ID3\x04\x00\x00\x7f\x7f\x7f\x7f"), nil} {
		if _, err := duration(bytes.NewReader(junk), int64(len(junk))); err == nil {
			t.Errorf("%q: a duration from junk", junk)
		}
	}
}

// The persister naps before it persists, so that the segments of a
// stream of small batches are written as one file (runtimeConfig): bleve
// ignores option names it does not know, so this checks that scorch
// took the nap (a nap the merger cuts short counts).
func TestPersisterGathersSegments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "search")
	idx, err := createStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	const batches = 10
	for i := range batches {
		b := idx.NewBatch()
		if err := b.Index(fmt.Sprintf("doc%d", i), map[string]any{fName: fmt.Sprintf("file %d", i)}); err != nil {
			t.Fatal(err)
		}
		if err := idx.Batch(b); err != nil {
			t.Fatal(err)
		}
	}
	b := idx.NewBatch()
	done := make(chan error, 1)
	b.SetPersistedCallback(func(err error) { done <- err })
	b.SetInternal(keyClosed, []byte("test"))
	if err := idx.Batch(b); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stats, _ := idx.StatsMap()["index"].(map[string]interface{})
	naps, _ := stats["TotPersisterNapPauseCompleted"].(uint64)
	breaks, _ := stats["TotPersisterMergerNapBreak"].(uint64)
	if naps+breaks == 0 {
		t.Errorf("persister: no nap before persisting %d batches (persisterNap not applied)", batches)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
}
