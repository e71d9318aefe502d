package api

import (
	"crypto/sha256"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/clusterf/clusterf/filesync"
)

// Sync is the node's import/export sync (filesync.Manager): the pairs of
// --import-dir/--export-dir and the one-shot jobs of clusterf import and
// clusterf export.
type Sync interface {
	Pairs() []filesync.Status
	Pair(id string) (filesync.Status, bool)
	StartJob(cfg filesync.PairConfig) (filesync.Status, error)
	CancelJob(id string) bool
}

// SyncList is the answer of GET /api/sync.
type SyncList struct {
	Pairs []filesync.Status `json:"pairs"`
}

// SyncRequest is the body of POST /api/sync: one pass of import (local →
// cluster), export (cluster → local) or both.
type SyncRequest struct {
	Local       string   `json:"local"`   // absolute path on the node's machine
	Cluster     string   `json:"cluster"` // cluster folder
	Mode        string   `json:"mode"`    // import, export, both
	ExcludeDirs []string `json:"exclude_dirs,omitempty"`
	MaxDelete   string   `json:"max_delete,omitempty"` // "50%"
}

func (s *Server) registerSync() {
	s.echo.GET("/api/sync", s.getSync)
	s.echo.POST("/api/sync", s.postSync)
	s.echo.GET("/api/sync/:id", s.getSyncPair)
	s.echo.DELETE("/api/sync/:id", s.deleteSyncPair)
}

func (s *Server) syncer() (Sync, error) {
	if s.cfg.Sync == nil {
		return nil, httpErr(http.StatusServiceUnavailable, "sync is not available on this server")
	}
	return s.cfg.Sync, nil
}

// localAccess: starting or stopping a job makes the node read and write
// its own local files, so it always needs the token, also on loopback
// where the rest of the API does not (any local user could otherwise
// make the node write where only the node's user may).
func (s *Server) localAccess(c echo.Context) error {
	if s.cfg.Token == "" {
		return httpErr(http.StatusForbidden, "sync jobs need the node's token, and none is configured")
	}
	if !tokenOK(c.Request(), sha256.Sum256([]byte(s.cfg.Token))) {
		return httpErr(http.StatusUnauthorized, "sync jobs read and write the node's local files: send the node's token (Authorization: Bearer <token>, from <node dir>/http-token)")
	}
	return nil
}

func (s *Server) getSync(c echo.Context) error {
	sy, err := s.syncer()
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, SyncList{Pairs: sy.Pairs()})
}

func (s *Server) getSyncPair(c echo.Context) error {
	sy, err := s.syncer()
	if err != nil {
		return err
	}
	st, ok := sy.Pair(c.Param("id"))
	if !ok {
		return httpErr(http.StatusNotFound, "no sync pair "+c.Param("id"))
	}
	return c.JSON(http.StatusOK, st)
}

func (s *Server) postSync(c echo.Context) error {
	sy, err := s.syncer()
	if err != nil {
		return err
	}
	if err := s.localAccess(c); err != nil {
		return err
	}
	var req SyncRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mode, err := filesync.ParseMode(req.Mode)
	if err != nil {
		return httpErr(http.StatusBadRequest, err.Error())
	}
	cfg := filesync.PairConfig{Local: req.Local, Cluster: req.Cluster, Mode: mode, Excludes: req.ExcludeDirs}
	if req.MaxDelete != "" {
		if cfg.MaxDelete, err = filesync.ParseMaxDelete(req.MaxDelete); err != nil {
			return httpErr(http.StatusBadRequest, err.Error())
		}
	}
	if len(req.Local) == 0 || req.Local[0] != '/' {
		return httpErr(http.StatusBadRequest, "local must be an absolute path on the node's machine")
	}
	st, err := sy.StartJob(cfg)
	switch {
	case errors.Is(err, filesync.ErrConfig):
		return httpErr(http.StatusBadRequest, err.Error())
	case errors.Is(err, filesync.ErrBusy):
		return httpErr(http.StatusConflict, err.Error())
	case err != nil:
		return httpErr(http.StatusServiceUnavailable, err.Error())
	}
	return c.JSON(http.StatusAccepted, st)
}

func (s *Server) deleteSyncPair(c echo.Context) error {
	sy, err := s.syncer()
	if err != nil {
		return err
	}
	if err := s.localAccess(c); err != nil {
		return err
	}
	if !sy.CancelJob(c.Param("id")) {
		return httpErr(http.StatusNotFound, "no sync job "+c.Param("id")+" (pairs from the node's flags stop with the node)")
	}
	st, _ := sy.Pair(c.Param("id"))
	return c.JSON(http.StatusOK, st)
}
