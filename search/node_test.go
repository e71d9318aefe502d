package search_test

import (
	"bytes"
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/node"
	"github.com/clusterf/clusterf/replica"
	"github.com/clusterf/clusterf/search"
)

// Tests over real nodes (node.New + Start: meta.db, chunk store, the
// index in <node dir>/search), on loopback with discovery off.

func startNode(t testing.TB, dataDir, id string, peers ...string) *node.Node {
	t.Helper()
	n, err := node.New(node.Config{NodeID: id, DataDir: dataDir, DiscoveryPort: 0, QUICHost: "127.0.0.1",
		HTTPAddr: "127.0.0.1", Peers: peers, SyncInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func sync(t testing.TB, n *node.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.Search().Sync(ctx); err != nil {
		t.Fatalf("sync: %v (stats %+v)", err, n.Search().Stats())
	}
}

func write(t testing.TB, n *node.Node, p string, b []byte, mtime ...time.Time) {
	t.Helper()
	o := replica.PutOptions{}
	if len(mtime) > 0 {
		o.Mtime = &mtime[0]
	}
	if _, err := n.FS.PutFile(context.Background(), p, bytes.NewReader(b), o); err != nil {
		t.Fatalf("put %s: %v", p, err)
	}
}

func query(t testing.TB, n *node.Node, r search.Request) *search.Result {
	t.Helper()
	if r.Limit == 0 {
		r.Limit = 1000
	}
	res, err := n.Search().Search(context.Background(), r)
	if err != nil {
		t.Fatalf("search %q: %v", r.Query, err)
	}
	return res
}

func found(t testing.TB, n *node.Node, q string) []string {
	t.Helper()
	var out []string
	for _, h := range query(t, n, search.Request{Query: q}).Results {
		out = append(out, h.Path)
	}
	sort.Strings(out)
	return out
}

func expect(t testing.TB, n *node.Node, q string, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	sort.Strings(want)
	if got := found(t, n, q); !slices.Equal(got, want) {
		t.Errorf("%q found %q, want %q", q, got, want)
	}
}

// testTree writes the tree every query test looks at; it returns the
// paths by role.
func testTree(t *testing.T, n *node.Node) {
	old := time.Date(2020, 5, 5, 12, 0, 0, 0, time.Local)
	files := map[string][]byte{
		"/photos/Vacation_2024-07.JPG": jpegWithExif(t, "Canon", "Canon EOS R5", "RF24-105mm F4 L IS USM", "2024:07:14 10:30:00", true),
		"/photos/beach.jpg":            jpegWithExif(t, "NIKON CORPORATION", "NIKON Z 6", "NIKKOR Z 24-70mm", "2023:08:01 09:00:00", false),
		"/photos/broken.jpg":           []byte("\xff\xd8\xff\xe1\x00\x10Exif\x00\x00II*\x00\xff\xff\xff\xffgarbage"),
		"/movies/summer vacation.mov":  ffmpegMedia(t, "m.mov", 1, true, nil),
		"/archive/vacationPhotos.zip":  bytes.Repeat([]byte{0x50, 0x4b, 3, 4, 9}, 100),
		"/music/frog choir - ribbit.mp3": ffmpegMedia(t, "a.mp3", 3, false, map[string]string{
			"artist": "Frog Choir", "album": "Pond Songs", "title": "Ribbit", "genre": "Ambient"}),
		"/music/lake.flac":     ffmpegMedia(t, "b.flac", 4, false, map[string]string{"artist": "Lake Ensemble", "title": "Still Water"}),
		"/video/clip.mp4":      ffmpegMedia(t, "c.mp4", 2, true, map[string]string{"title": "Jumping Frogs", "artist": "Nature Crew"}),
		"/docs/invoice.pdf":    pdfWithText("Invoice for pond maintenance, March"),
		"/docs/page.html":      []byte("<html><head><script>var secretvariable = 1;</script></head><body><p>Tadpole handbook</p></body></html>"),
		"/src/main.go":         []byte("package main\n\n// HandleRequest answers lily pad bookings.\nfunc HandleRequest() {}\n"),
		"/docs/cafe\u0301.txt": []byte("menu"),
		"/big/huge.bin":        bytes.Repeat([]byte("0123456789abcdef"), 3<<16), // 3 MiB
	}
	for p, b := range files {
		write(t, n, p, b)
	}
	write(t, n, "/docs/report.md", []byte("# Quarterly report\n\nRevenue grew in the northern region; the frogs are happy.\n"), old)
	a, err := n.FS.Walk(context.Background(), "/photos/Vacation_2024-07.JPG")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.FS.SetXattr(context.Background(), a.Ref.Inode, "user.xdg.tags", []byte("holiday,beach"), 0); err != nil {
		t.Fatal(err)
	}
}

func TestQueryForms(t *testing.T) {
	n := startNode(t, t.TempDir(), "q1")
	testTree(t, n)
	sync(t, n)
	st := n.Search().Stats()
	t.Logf("index: %+v", st)
	if st.ParseFailures < 1 {
		t.Errorf("broken.jpg: parse failures %d, want >= 1", st.ParseFailures)
	}
	vac := []string{"/photos/Vacation_2024-07.JPG", "/movies/summer vacation.mov", "/archive/vacationPhotos.zip"}
	cases := []struct {
		q    string
		want []string
	}{
		{"vacation", vac},
		{"VACATION", vac},
		{"vaca", vac},    // as you type: prefix
		{"cation", vac},  // substring
		{"vacaton", vac}, // a typo
		{`"summer vacation"`, []string{"/movies/summer vacation.mov"}},
		{"summer_vacation", []string{"/movies/summer vacation.mov"}},
		{"quart*", []string{"/docs/report.md"}},
		{"revenue northern", []string{"/docs/report.md"}},
		{"revenue penguin", nil},
		{`"northern region"`, []string{"/docs/report.md"}},
		{`"region northern"`, nil},
		{"name:report", []string{"/docs/report.md"}},
		{"name:revenue", nil},
		{"report OR invoice", []string{"/docs/report.md", "/docs/invoice.pdf"}},
		{"vacation -zip", vac[:2]},
		{"ext:jpg", []string{"/photos/Vacation_2024-07.JPG", "/photos/beach.jpg", "/photos/broken.jpg"}},
		{"ext:mp3,flac", []string{"/music/frog choir - ribbit.mp3", "/music/lake.flac"}},
		{"type:image", []string{"/photos/Vacation_2024-07.JPG", "/photos/beach.jpg", "/photos/broken.jpg"}},
		{"type:audio", []string{"/music/frog choir - ribbit.mp3", "/music/lake.flac"}},
		{"type:video", []string{"/movies/summer vacation.mov", "/video/clip.mp4"}},
		{"type:pdf", []string{"/docs/invoice.pdf"}},
		{"type:folder under:/docs", nil},
		{"type:folder", []string{"/photos", "/movies", "/archive", "/music", "/video", "/docs", "/src", "/big"}},
		{"camera:canon", []string{"/photos/Vacation_2024-07.JPG"}},
		{`camera:"EOS R5"`, []string{"/photos/Vacation_2024-07.JPG"}},
		{"camera:nikon", []string{"/photos/beach.jpg"}},
		{"lens:nikkor", []string{"/photos/beach.jpg"}},
		{"canon", []string{"/photos/Vacation_2024-07.JPG"}},
		{"taken:2024", []string{"/photos/Vacation_2024-07.JPG"}},
		{"taken:2023-08-01", []string{"/photos/beach.jpg"}},
		{"gps:yes", []string{"/photos/Vacation_2024-07.JPG"}},
		{"artist:frog", []string{"/music/frog choir - ribbit.mp3"}},
		{"album:pond", []string{"/music/frog choir - ribbit.mp3"}},
		{`title:"still water"`, []string{"/music/lake.flac"}},
		{"genre:ambient", []string{"/music/frog choir - ribbit.mp3"}},
		{"ribbit", []string{"/music/frog choir - ribbit.mp3"}},
		{"artist:nature", []string{"/video/clip.mp4"}},
		{"duration:>2.5", []string{"/music/frog choir - ribbit.mp3", "/music/lake.flac"}},
		{"duration:<1.5", []string{"/movies/summer vacation.mov"}},
		{"size:>2MB", []string{"/big/huge.bin"}},
		{"size:3MB", []string{"/big/huge.bin"}},
		{"size:1MB..2MB", nil},
		{"modified:2020", []string{"/docs/report.md"}},
		{"modified:<2021-01-01 type:file", []string{"/docs/report.md"}},
		{"under:/music", []string{"/music/frog choir - ribbit.mp3", "/music/lake.flac"}},
		{"under:/music artist:frog", []string{"/music/frog choir - ribbit.mp3"}},
		{"under:/nowhere", nil},
		{"path:photos ext:jpg", []string{"/photos/Vacation_2024-07.JPG", "/photos/beach.jpg", "/photos/broken.jpg"}},
		{"tag:holiday", []string{"/photos/Vacation_2024-07.JPG"}},
		{"xattr:beach", []string{"/photos/Vacation_2024-07.JPG"}},
		{"invoice maintenance", []string{"/docs/invoice.pdf"}},
		{"tadpole", []string{"/docs/page.html"}},
		{"secretvariable", nil}, // script text is not document text
		{"HandleRequest", []string{"/src/main.go"}},
		{"lily pad", []string{"/src/main.go"}},
		{"café", []string{"/docs/cafe\u0301.txt"}}, // NFD name, NFC query
		{"broken", []string{"/photos/broken.jpg"}}, // its parser failed: still found by name
	}
	for _, c := range cases {
		expect(t, n, c.q, c.want...)
	}

	// Ranking: best first. vacationPhotos.zip and "summer vacation.mov"
	// both hold the word (camelCase split) and may tie, in either order.
	if r := query(t, n, search.Request{Query: "vacation"}); !slices.IsSortedFunc(r.Results, func(a, b search.Hit) int { return cmp.Compare(b.Score, a.Score) }) {
		t.Errorf("ranking not best first: %+v", r.Results)
	}
	// Snippets and highlighting.
	r := query(t, n, search.Request{Query: "revenue"})
	if len(r.Results) != 1 || !strings.Contains(r.Results[0].SnippetHTML, "<mark>Revenue</mark>") ||
		!strings.Contains(r.Results[0].Snippet, "Revenue grew") || r.Results[0].ContentType != "text/markdown" {
		t.Errorf("snippet: %+v", r.Results)
	}
	r = query(t, n, search.Request{Query: "camera:canon"})
	if m := r.Results[0].Metadata; m == nil || m.Camera != "Canon EOS R5" || !m.GPS || m.Taken == nil || m.Taken.Year() != 2024 ||
		m.Lens != "RF24-105mm F4 L IS USM" {
		t.Errorf("exif metadata: %+v", r.Results[0].Metadata)
	}
	r = query(t, n, search.Request{Query: "ribbit"})
	if m := r.Results[0].Metadata; m == nil || m.Artist != "Frog Choir" || m.Album != "Pond Songs" || m.Duration < 2.9 || m.Duration > 3.2 {
		t.Errorf("tag metadata: %+v", r.Results[0].Metadata)
	}
	// Paging and sorting.
	all := query(t, n, search.Request{Query: "ext:jpg", Sort: "name"})
	if all.Total != 3 || all.Results[0].Name != "beach.jpg" || all.Results[2].Name != "Vacation_2024-07.JPG" { // case-blind
		t.Errorf("sort by name: %+v", all.Results)
	}
	page := query(t, n, search.Request{Query: "ext:jpg", Sort: "name", Limit: 1, Offset: 1})
	if page.Total != 3 || page.Count != 1 || page.Results[0].Name != "broken.jpg" {
		t.Errorf("page 2: %+v", page)
	}
	bySize := query(t, n, search.Request{Query: "type:file", Sort: "-size"})
	if bySize.Results[0].Path != "/big/huge.bin" {
		t.Errorf("sort by size: %v", bySize.Results[0])
	}
	byDate := query(t, n, search.Request{Query: "type:file", Sort: "date"})
	if byDate.Results[0].Path != "/docs/report.md" {
		t.Errorf("sort by date: %v", byDate.Results[0])
	}
	// Bad input: a clear error, nothing harmed.
	for _, q := range []string{strings.Repeat("x", search.MaxQueryBytes+1), `"unterminated`, "size:>big", "modified:>soon",
		"color:red", "foo*bar", "OR", "a OR", "under:/docs/report.md", "gps:maybe", strings.Repeat("a ", 40)} {
		if _, err := n.Search().Search(context.Background(), search.Request{Query: q}); !search.IsQueryError(err) {
			t.Errorf("%.40q: err %v, want a query error", q, err)
		}
	}
}

func TestChangesUpdateResults(t *testing.T) {
	n := startNode(t, t.TempDir(), "c1")
	ctx := context.Background()
	write(t, n, "/docs/report.md", []byte("Quarterly revenue grew"))
	write(t, n, "/music/a/lake.txt", []byte("still water"))
	write(t, n, "/music/b/pond.txt", []byte("green frogs"))
	sync(t, n)
	expect(t, n, "revenue", "/docs/report.md")

	// Rename: found under the new name with its content, not the old one.
	docs, _ := n.FS.Walk(ctx, "/docs")
	if err := n.FS.Rename(ctx, docs.Ref.Inode, "report.md", docs.Ref.Inode, "annual.md", 0); err != nil {
		t.Fatal(err)
	}
	sync(t, n)
	expect(t, n, "revenue", "/docs/annual.md")
	expect(t, n, "name:report")
	// Moving a directory moves everything below it.
	root, _ := n.FS.Walk(ctx, "/")
	if err := n.FS.Rename(ctx, root.Ref.Inode, "music", root.Ref.Inode, "audio", 0); err != nil {
		t.Fatal(err)
	}
	sync(t, n)
	expect(t, n, "under:/audio type:file", "/audio/a/lake.txt", "/audio/b/pond.txt")
	expect(t, n, "under:/music")
	expect(t, n, "frogs", "/audio/b/pond.txt")
	// A new write replaces the content.
	write(t, n, "/docs/annual.md", []byte("Losses shrank"))
	sync(t, n)
	expect(t, n, "revenue")
	expect(t, n, "losses", "/docs/annual.md")
	// Delete: gone, the directory tree too.
	if err := n.FS.RemoveAll(ctx, "/audio/a"); err != nil {
		t.Fatal(err)
	}
	sync(t, n)
	expect(t, n, "still water")
	expect(t, n, "under:/audio", "/audio/b", "/audio/b/pond.txt")
	// An xattr change.
	a, _ := n.FS.Walk(ctx, "/docs/annual.md")
	if err := n.FS.SetXattr(ctx, a.Ref.Inode, "user.xdg.tags", []byte("work"), 0); err != nil {
		t.Fatal(err)
	}
	sync(t, n)
	expect(t, n, "tag:work", "/docs/annual.md")
}

// A file written is searchable at once (the feed), its content right
// after (the extraction worker); the lag is logged, never asserted.
func TestWriteToSearchableLag(t *testing.T) {
	n := startNode(t, t.TempDir(), "l1")
	sync(t, n)
	start := time.Now()
	write(t, n, "/inbox/zanzibar-notes.txt", []byte("the word is quetzalcoatl"))
	for len(found(t, n, "zanzibar")) == 0 {
		time.Sleep(time.Millisecond)
	}
	byName := time.Since(start)
	for len(found(t, n, "quetzalcoatl")) == 0 {
		time.Sleep(time.Millisecond)
	}
	t.Logf("write to searchable: by name %v, by content %v", byName, time.Since(start))
}

func TestRestartCatchesUp(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, data, "r1")
	write(t, n, "/keep.txt", []byte("alpha"))
	write(t, n, "/gone.txt", []byte("bravo"))
	write(t, n, "/old-name.txt", []byte("charlie"))
	sync(t, n)
	dir := filepath.Join(n.Dir, "search")
	n.Close()
	snapshot := filepath.Join(t.TempDir(), "search-then")
	copyDir(t, dir, snapshot)

	// Changes the old index never saw.
	n = startNode(t, data, "r1")
	ctx := context.Background()
	root, _ := n.FS.Walk(ctx, "/")
	if err := n.FS.Unlink(ctx, root.Ref.Inode, "gone.txt"); err != nil {
		t.Fatal(err)
	}
	if err := n.FS.Rename(ctx, root.Ref.Inode, "old-name.txt", root.Ref.Inode, "new-name.txt", 0); err != nil {
		t.Fatal(err)
	}
	write(t, n, "/fresh.txt", []byte("delta"))
	sync(t, n)
	n.Close()
	os.RemoveAll(dir)
	copyDir(t, snapshot, dir)

	n = startNode(t, data, "r1")
	sync(t, n)
	st := n.Search().Stats()
	if st.Resyncs != 1 || st.Rebuilds != 0 || n.Search().Rebuilt() != "" {
		t.Errorf("restart: %+v", st)
	}
	expect(t, n, "bravo")
	expect(t, n, "charlie", "/new-name.txt")
	expect(t, n, "delta", "/fresh.txt")
	expect(t, n, "alpha", "/keep.txt")
	if st.Indexed > 3 {
		t.Errorf("catch-up re-indexed %d documents; only the 2 changed ones (and none unchanged) should be", st.Indexed)
	}
	n.Close()
}

func TestCorruptOrDeletedIndexRebuilds(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, data, "x1")
	write(t, n, "/a/notes.txt", []byte("kingfisher"))
	sync(t, n)
	dir := filepath.Join(n.Dir, "search")
	n.Close()

	os.RemoveAll(dir)
	n = startNode(t, data, "x1")
	sync(t, n)
	if n.Search().Rebuilt() != "missing" {
		t.Errorf("deleted index: rebuilt %q", n.Search().Rebuilt())
	}
	expect(t, n, "kingfisher", "/a/notes.txt")
	n.Close()

	// Corrupt every file of the index.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.WriteFile(p, []byte("garbage"), 0o600)
		}
		return nil
	})
	n = startNode(t, data, "x1")
	sync(t, n)
	if st := n.Search().Stats(); st.Rebuilds != 1 || !strings.Contains(st.RebuildReason, "unreadable") {
		t.Errorf("corrupt index: %+v", st)
	}
	expect(t, n, "kingfisher", "/a/notes.txt")
	n.Close()
}

// A write on another node is found here, content included; with RF 1
// most content is held by one node only and extracted there for us.
func TestRemoteWritesAndExtraction(t *testing.T) {
	a := startNode(t, t.TempDir(), "ra")
	b := startNode(t, t.TempDir(), "rb", "127.0.0.1:"+itoa(a.QUICPort()))
	if _, err := b.Meta.Update(func(tx *crdt.Tx) error {
		return tx.SetSetting(crdt.SettingReplicationFactor, crdt.EncodeValue(1))
	}); err != nil {
		t.Fatal(err)
	}
	words := []string{}
	for i := range 24 {
		w := "word" + strings.Repeat(string(rune('a'+i)), 3)
		words = append(words, w)
		body := append([]byte(w+" "), bytes.Repeat([]byte("padding text "), 800)...) // > 4 KiB: chunked, not inline
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := b.FS.PutFile(context.Background(), "/shared/"+w+".txt", bytes.NewReader(body), replica.PutOptions{})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // the peers are still finding each other
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, w := range words {
		for len(found(t, a, w)) != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("%s written on rb not found on ra; stats %+v", w, a.Search().Stats())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	st := a.Search().Stats()
	t.Logf("ra: %+v", st)
	if st.ExtractedRemote < 1 {
		t.Errorf("no content was extracted remotely: %+v", st)
	}
	if sb := b.Search().Stats(); sb.Served < st.ExtractedRemote {
		t.Errorf("rb served %d extractions, ra got %d", sb.Served, st.ExtractedRemote)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Ranking and marks: a whole word in the name comes first, then names it
// begins or is inside of, then matches in the path or the text; a prefix
// or substring match marks the word in the name.
func TestRankingAndMarks(t *testing.T) {
	n := startNode(t, t.TempDir(), "r1")
	for p, b := range map[string]string{
		"/a/vacation.txt":     "x",
		"/a/vacations.txt":    "x",
		"/a/myvacation.txt":   "x",
		"/vacation/other.txt": "x",
		"/b/notes.txt":        "plans for the vacation",
	} {
		write(t, n, p, []byte(b))
	}
	sync(t, n)
	r := query(t, n, search.Request{Query: "vacation"})
	var got []string
	for _, h := range r.Results {
		got = append(got, h.Path)
		t.Logf("%-22s score %.3f name %q snippet %q", h.Path, h.Score, h.Highlights["name"], h.SnippetHTML)
	}
	// The two whole names (the directory /vacation and vacation.txt), then
	// the names holding the word, then the text and the path.
	if len(got) != 6 || !slices.Contains(got[:2], "/vacation") || !slices.Contains(got[:2], "/a/vacation.txt") ||
		!slices.Contains(got[2:4], "/a/vacations.txt") || !slices.Contains(got[2:4], "/a/myvacation.txt") {
		t.Errorf("vacation ranked %q", got)
	}
	for q, want := range map[string]string{"vaca": "<mark>vacations</mark>.txt", "yvac": "<mark>myvacation</mark>.txt", "VACATIONS": "<mark>vacations</mark>.txt"} {
		r := query(t, n, search.Request{Query: q})
		ok := false
		for _, h := range r.Results {
			ok = ok || slices.Contains(h.Highlights["name"], want)
		}
		if !ok {
			t.Errorf("%q: no result whose name is marked %q: %+v", q, want, r.Results)
		}
	}
}
