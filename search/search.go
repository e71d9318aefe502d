package search

import (
	"context"
	"errors"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"golang.org/x/text/unicode/norm"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Request is one search.
type Request struct {
	Query string `json:"query"`
	// Limit is the page size (default 50, at most MaxLimit); Offset the
	// number of results skipped (at most MaxOffset).
	Limit  int `json:"limit,omitempty"`
	Offset int `json:"offset,omitempty"`
	// Sort: "relevance" (default), "name", "size", "date" (modification
	// time), ascending; "-name", "-size", "-date" descending.
	Sort string `json:"sort,omitempty"`
	// Path restricts the search to a directory (like under:).
	Path string `json:"path,omitempty"`
}

// Request bounds.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
	MaxOffset    = 100000
)

// Result is one page of results.
type Result struct {
	Query  string `json:"query"`
	Total  uint64 `json:"total"` // every match
	Count  int    `json:"count"` // len(Results)
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
	Sort   string `json:"sort"`
	// TookMs is the time the query took in the index, in milliseconds.
	TookMs  float64 `json:"took_ms"`
	Results []Hit   `json:"results"`
	// Pending counts files whose content is not indexed yet (results may
	// still grow as it is).
	Pending int `json:"pending_extractions"`
}

// Hit is one result.
type Hit struct {
	Path        string    `json:"path"`
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	IsDirectory bool      `json:"is_directory"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	ModifiedAt  time.Time `json:"modified_at"`
	Score       float64   `json:"score"`
	// Snippet is a plain-text excerpt around the match (content, else the
	// metadata or name that matched); SnippetHTML the same, HTML-escaped,
	// with the matched words in <mark>.
	Snippet     string `json:"snippet,omitempty"`
	SnippetHTML string `json:"snippet_html,omitempty"`
	// Highlights are escaped HTML fragments with <mark>, per field that
	// matched (name, path, text, camera, artist, ...).
	Highlights map[string][]string `json:"highlights,omitempty"`
	Metadata   *HitMetadata        `json:"metadata,omitempty"`
}

// HitMetadata is what extraction found in a file.
type HitMetadata struct {
	Camera   string     `json:"camera,omitempty"`
	Lens     string     `json:"lens,omitempty"`
	Taken    *time.Time `json:"taken,omitempty"`
	GPS      bool       `json:"gps,omitempty"`
	Artist   string     `json:"artist,omitempty"`
	Album    string     `json:"album,omitempty"`
	Title    string     `json:"title,omitempty"`
	Genre    string     `json:"genre,omitempty"`
	Duration float64    `json:"duration_seconds,omitempty"`
}

var sortFields = map[string][]string{
	"": {"-_score"}, "relevance": {"-_score"}, // a secondary key would load doc values of every hit
	"name": {fNameSort, "_id"}, "-name": {"-" + fNameSort, "_id"},
	"size": {fSize, fNameSort}, "-size": {"-" + fSize, fNameSort},
	"date": {fMtime, fNameSort}, "-date": {"-" + fMtime, fNameSort},
	"modified": {fMtime, fNameSort}, "-modified": {"-" + fMtime, fNameSort},
}

var resultFields = []string{fPath, fName, fKind, fSize, fMtime, fMime, fCamera, fLens, fTaken, fGPS,
	fArtist, fAlbum, fTitle, fGenre, fDuration}

var highlightFields = []string{fText, fName, fPath, fCamera, fLens, fArtist, fAlbum, fTitle, fGenre, fTag}

// Search runs a query. Errors the user caused are *QueryError.
func (x *Index) Search(ctx context.Context, r Request) (*Result, error) {
	r.Query = strings.TrimSpace(r.Query)
	if r.Query == "" {
		return nil, badQuery("empty query")
	}
	switch {
	case r.Limit == 0:
		r.Limit = DefaultLimit
	case r.Limit < 0 || r.Limit > MaxLimit:
		return nil, badQuery("limit must be 1..%d", MaxLimit)
	}
	if r.Offset < 0 || r.Offset > MaxOffset {
		return nil, badQuery("offset must be 0..%d", MaxOffset)
	}
	order, ok := sortFields[strings.ToLower(r.Sort)]
	if !ok {
		return nil, badQuery("sort must be relevance, name, size or date (prefix - for descending), not %q", r.Sort)
	}
	cp := &compiler{resolve: x.resolveDir, exists: x.termExists}
	q, err := cp.compile(r.Query)
	if err != nil {
		return nil, err
	}
	x.catchUp(ctx, freshWait)
	if r.Path != "" && r.Path != "/" {
		id, ok, err := x.resolveDir(r.Path)
		if err != nil {
			return nil, err
		}
		under := term(fAnc, id, 0)
		if !ok {
			under = bleve.NewMatchNoneQuery()
		}
		q = bleve.NewConjunctionQuery(q, under)
	}
	req := bleve.NewSearchRequestOptions(q, r.Limit, r.Offset, false)
	req.Fields = resultFields
	req.SortBy(order)
	req.Highlight = bleve.NewHighlightWithStyle("html")
	req.Highlight.Fields = highlightFields
	res, err := x.idx.SearchInContext(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("search: %w", err)
	}
	pending, _ := x.queue.sizes()
	out := &Result{Query: r.Query, Total: res.Total, Offset: r.Offset, Limit: r.Limit, Sort: r.Sort,
		TookMs: float64(res.Took.Microseconds()) / 1000, Results: make([]Hit, 0, len(res.Hits)), Pending: pending}
	if out.Sort == "" {
		out.Sort = "relevance"
	}
	for _, h := range res.Hits {
		hit := hitOf(h)
		markName(&hit, cp.marks)
		out.Results = append(out.Results, hit)
	}
	out.Count = len(out.Results)
	return out, nil
}

// freshWait bounds how long a query waits for the index to apply the
// changes published before it (read-your-writes for a client that just
// wrote, without stalling queries when the index is busy).
const freshWait = 250 * time.Millisecond

func (x *Index) catchUp(ctx context.Context, d time.Duration) {
	feed := x.fs.Changes()
	target := feedMark{feed.Epoch(), feed.Last()}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		x.mu.Lock()
		done := x.mark.Epoch == target.Epoch && x.mark.Seq >= target.Seq
		w := x.waiters
		x.mu.Unlock()
		if done {
			return
		}
		select {
		case <-w:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// termExists reports whether a term occurs in a field.
func (x *Index) termExists(field, term string) bool {
	r, err := x.reader()
	if err != nil {
		return false
	}
	defer r.Close()
	tfr, err := r.TermFieldReader(context.Background(), []byte(term), field, false, false, false)
	if err != nil {
		return false
	}
	defer tfr.Close()
	return tfr.Count() > 0
}

// resolveDir maps an under: path to its directory id ("" for the root;
// ok false: no such path). A path to a file is the user's error.
func (x *Index) resolveDir(p string) (string, bool, error) {
	p = strings.TrimSpace(p)
	if _, err := replica.SplitPath(p); err != nil {
		return "", false, badQuery("under: %q is not a valid path", p)
	}
	a, err := x.fs.Walk(context.Background(), p)
	switch {
	case errors.Is(err, crdt.ErrNotFound) || errors.Is(err, crdt.ErrNotDir):
		return "", false, nil
	case err != nil:
		return "", false, err
	case a.Kind != crdt.KindDir:
		return "", false, badQuery("under: %q is not a directory", p)
	case a.Ref.Inode == crdt.RootID:
		return "", true, nil
	}
	return a.Ref.Inode.String(), true, nil
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func hitOf(h *search.DocumentMatch) Hit {
	f := h.Fields
	hit := Hit{Path: str(f, fPath), Name: str(f, fName), Kind: str(f, fKind), ContentType: str(f, fMime), Score: h.Score}
	hit.IsDirectory = hit.Kind == crdt.KindDir.String()
	if v, ok := f[fSize].(float64); ok {
		hit.Size = int64(v)
	}
	if t, err := time.Parse(time.RFC3339Nano, str(f, fMtime)); err == nil {
		hit.ModifiedAt = t
	}
	m := HitMetadata{Camera: str(f, fCamera), Lens: str(f, fLens), Artist: str(f, fArtist), Album: str(f, fAlbum),
		Title: str(f, fTitle), Genre: str(f, fGenre)}
	if t, err := time.Parse(time.RFC3339Nano, str(f, fTaken)); err == nil {
		m.Taken = &t
	}
	m.GPS, _ = f[fGPS].(bool)
	m.Duration, _ = f[fDuration].(float64)
	if m != (HitMetadata{}) {
		hit.Metadata = &m
	}
	if len(h.Fragments) > 0 {
		hit.Highlights = map[string][]string{}
		for k, v := range h.Fragments {
			for _, frag := range v {
				if strings.Contains(frag, "<mark>") { // bleve also returns unmatched fields
					hit.Highlights[k] = append(hit.Highlights[k], frag)
				}
			}
		}
		if len(hit.Highlights) == 0 {
			hit.Highlights = nil
		}
		for _, k := range highlightFields {
			if v := hit.Highlights[k]; len(v) > 0 {
				hit.SnippetHTML = v[0]
				hit.Snippet = plain(v[0])
				break
			}
		}
	}
	return hit
}

// markName marks the words of the name that a query word matched as a
// prefix or inside (those matches come from the prefix and suffix fields,
// which keep no positions to highlight with), when bleve marked nothing
// in the name.
func markName(h *Hit, ws []string) {
	if len(ws) == 0 || len(h.Highlights[fName]) > 0 {
		return
	}
	name := norm.NFC.String(h.Name)
	var sb strings.Builder
	at, marked := 0, false
	for _, t := range wordTokens(name, true) {
		w := string(t.Term)
		if !slices.ContainsFunc(ws, func(q string) bool {
			return strings.HasPrefix(w, q) || utf8.RuneCountInString(q) >= 3 && strings.Contains(w, q)
		}) {
			continue
		}
		sb.WriteString(html.EscapeString(name[at:t.Start]) + "<mark>" + html.EscapeString(name[t.Start:t.End]) + "</mark>")
		at, marked = t.End, true
	}
	if !marked {
		return
	}
	sb.WriteString(html.EscapeString(name[at:]))
	if h.Highlights == nil {
		h.Highlights = map[string][]string{}
	}
	h.Highlights[fName] = []string{sb.String()}
	for _, k := range highlightFields {
		if v := h.Highlights[k]; len(v) > 0 {
			h.SnippetHTML, h.Snippet = v[0], plain(v[0])
			break
		}
	}
}

// plain is an HTML fragment without its marks, unescaped.
func plain(s string) string {
	s = strings.ReplaceAll(s, "<mark>", "")
	s = strings.ReplaceAll(s, "</mark>", "")
	return html.UnescapeString(s)
}
