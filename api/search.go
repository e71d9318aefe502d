package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Search bounds.
const (
	defaultSearchLimit = 100
	maxSearchLimit     = 1000
	// maxSearchVisit bounds the entries one search looks at; past it the
	// answer says "truncated": true.
	maxSearchVisit = 200000
	maxJSONBody    = 1 << 20
)

// SearchRequest is the body of POST /api/search.
type SearchRequest struct {
	Query string `json:"query"`
	Limit int    `json:"limit"`
	// Path restricts the search to a subtree (default "/").
	Path string `json:"path,omitempty"`
}

// SearchResult is the answer of both search routes.
type SearchResult struct {
	Query   string     `json:"query"`
	Results []Metadata `json:"results"`
	Count   int        `json:"count"`
	// Truncated is true when the walk stopped at its bound before the
	// whole namespace was seen (Count < Limit then means "maybe more").
	Truncated bool `json:"truncated"`
}

func (s *Server) searchGET(c echo.Context) error {
	req := SearchRequest{Query: c.QueryParam("q"), Path: c.QueryParam("path")}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return httpErr(http.StatusBadRequest, "limit must be an integer")
		}
		req.Limit = n
	}
	return s.search(c, req)
}

func (s *Server) searchPOST(c echo.Context) error {
	var req SearchRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	return s.search(c, req)
}

// decodeJSON decodes a bounded JSON body whatever its Content-Type (curl -d
// sends form encoding by default).
func decodeJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, maxJSONBody))
	if err := dec.Decode(v); err != nil {
		return httpErr(http.StatusBadRequest, "bad JSON body: "+err.Error())
	}
	return nil
}

// search matches the query, case-insensitively, as a substring of each
// entry's full path ("/photos/2024/beach.jpg"), breadth first from the
// root (or req.Path), names in order.
func (s *Server) search(c echo.Context, req SearchRequest) error {
	q := strings.TrimSpace(req.Query)
	if q == "" {
		return httpErr(http.StatusBadRequest, "empty query (GET /api/search?q=... or POST {\"query\": ...})")
	}
	switch {
	case req.Limit == 0:
		req.Limit = defaultSearchLimit
	case req.Limit < 0 || req.Limit > maxSearchLimit:
		return httpErr(http.StatusBadRequest, "limit must be 1.."+strconv.Itoa(maxSearchLimit))
	}
	root, err := CleanPath(req.Path)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	start, err := s.fs.Walk(ctx, root)
	if err != nil {
		return readErr(err)
	}
	if start.Kind != crdt.KindDir {
		return httpErr(http.StatusBadRequest, "search path is not a directory")
	}
	res, err := s.walkSearch(ctx, root, start.Ref.Inode, strings.ToLower(q), req.Limit)
	if err != nil {
		return err
	}
	res.Query = q
	return c.JSON(http.StatusOK, res)
}

func (s *Server) walkSearch(ctx context.Context, root string, rootID crdt.InodeID, q string, limit int) (SearchResult, error) {
	type dir struct {
		path string
		id   crdt.InodeID
	}
	res := SearchResult{Results: []Metadata{}}
	queue := []dir{{root, rootID}}
	visited := 0
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		d := queue[0]
		queue = queue[1:]
		ents, err := s.fs.ReadDir(ctx, d.id)
		if err != nil {
			continue // removed meanwhile
		}
		var hits []replica.Attr
		var hitPaths []string
		for _, e := range ents {
			visited++
			if visited > maxSearchVisit {
				res.Truncated = true
				break
			}
			if isUploadTemp(e.Name) {
				continue
			}
			p := path.Join(d.path, e.Name)
			if e.Attr.Kind == crdt.KindDir {
				queue = append(queue, dir{p, e.Attr.Ref.Inode})
			}
			if strings.Contains(strings.ToLower("/"+p), q) {
				hits = append(hits, e.Attr)
				hitPaths = append(hitPaths, p)
				if len(res.Results)+len(hits) >= limit {
					break
				}
			}
		}
		infos := s.inodeInfos(hits...)
		for i := range hits {
			res.Results = append(res.Results, metadataOf(hitPaths[i], hits[i], infos[i]))
		}
		if len(res.Results) >= limit || res.Truncated {
			break
		}
	}
	res.Count = len(res.Results)
	return res, nil
}
