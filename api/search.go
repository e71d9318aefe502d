package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/clusterf/clusterf/search"
)

// Searcher is the node's search index (*search.Index); the API only
// adapts HTTP to it.
type Searcher interface {
	Search(ctx context.Context, r search.Request) (*search.Result, error)
	Stats() search.Stats
}

// maxJSONBody bounds JSON request bodies.
const maxJSONBody = 1 << 20

// SearchRequest is the body of POST /api/search.
type SearchRequest = search.Request

// SearchResult is the answer of both search routes.
type SearchResult = search.Result

func (s *Server) registerSearch() {
	s.echo.GET("/api/search", s.searchGET)
	s.echo.POST("/api/search", s.searchPOST)
	s.echo.GET("/api/search/status", s.searchStatus)
}

func (s *Server) searchGET(c echo.Context) error {
	req := SearchRequest{Query: c.QueryParam("q"), Path: c.QueryParam("path"), Sort: c.QueryParam("sort")}
	for name, dst := range map[string]*int{"limit": &req.Limit, "offset": &req.Offset} {
		if v := c.QueryParam(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return httpErr(http.StatusBadRequest, name+" must be an integer")
			}
			*dst = n
		}
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

func (s *Server) search(c echo.Context, req SearchRequest) error {
	if s.cfg.Search == nil {
		return httpErr(http.StatusServiceUnavailable, "search index not available on this node")
	}
	if req.Query == "" {
		return httpErr(http.StatusBadRequest, "empty query (GET /api/search?q=... or POST {\"query\": ...})")
	}
	if req.Path != "" {
		p, err := CleanPath(req.Path)
		if err != nil {
			return err
		}
		req.Path = p
	}
	res, err := s.cfg.Search.Search(c.Request().Context(), req)
	if err != nil {
		var qe *search.QueryError
		if errors.As(err, &qe) {
			return httpErr(http.StatusBadRequest, qe.Msg)
		}
		return err
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) searchStatus(c echo.Context) error {
	if s.cfg.Search == nil {
		return httpErr(http.StatusServiceUnavailable, "search index not available on this node")
	}
	return c.JSON(http.StatusOK, s.cfg.Search.Stats())
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
