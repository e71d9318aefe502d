package search

import (
	"bytes"
	"log/slog"
	"os"
	"testing"

	"golang.org/x/text/unicode/norm"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func writeFile(p string) error { return os.WriteFile(p, []byte("x"), 0o600) }

// FuzzDecodeExtract: the search/extract request and answer decoders
// (bytes from other members) never panic and never keep more text than
// asked.
func FuzzDecodeExtract(f *testing.F) {
	f.Add([]byte{0xa5, 0x01, 0x50})
	f.Add([]byte{0xa2, 0x02, 0x62, 0x68, 0x69, 0x03, 0x65, 0x43, 0x61, 0x6e, 0x6f, 0x6e})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeExtractRequest(b)
		x, err := decodeExtracted(b, 64)
		if err == nil && len(x.Text) > 64 {
			t.Fatalf("kept %d bytes of text", len(x.Text))
		}
	})
}

// FuzzExtract: the content parsers (EXIF, tags, durations, PDF, HTML,
// text) on hostile bytes never panic out of extract and never keep more
// text than the limit.
func FuzzExtract(f *testing.F) {
	for _, s := range []string{"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00II*\x00", "ID3\x04\x00\x00\x00\x00\x00\x10TIT2",
		"fLaC\x00\x00\x00\x22", "\x00\x00\x00\x18ftypisom\x00\x00\x00\x08moov", "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>",
		"<html><script>x</script><p>hi</p>", "plain text"} {
		f.Add([]byte(s), uint8(0))
	}
	names := []string{"a.jpg", "a.mp3", "a.flac", "a.mp4", "a.pdf", "a.html", "a.txt", "a"}
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		x := extract(names[int(which)%len(names)], bytes.NewReader(b), int64(len(b)), Limits{MaxText: 100, MaxFile: 1 << 20})
		if len(x.Text) > 100 {
			t.Fatalf("kept %d bytes of text", len(x.Text))
		}
	})
}

// FuzzQuery: any query string compiles or is refused with a QueryError;
// the name marks of its words are well-formed for any name (the query
// itself taken as one).
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"vacation", `"a b" -c`, "size:>10MB..", "modified:2026-07..", "a OR OR b", "under:/x", "*", "name:*"} {
		f.Add(s)
	}
	cp := &compiler{resolve: func(string) (string, bool, error) { return "d", true, nil }, exists: func(string, string) bool { return false }}
	f.Fuzz(func(t *testing.T, q string) {
		if _, err := cp.compile(q); err != nil && !IsQueryError(err) {
			t.Fatalf("%q: %v", q, err)
		}
		h := Hit{Name: q}
		markName(&h, cp.marks)
		if m := h.Highlights[fName]; len(m) > 0 && plain(m[0]) != norm.NFC.String(q) {
			t.Fatalf("%q: marked name %q is not the name", q, m[0])
		}
	})
}
