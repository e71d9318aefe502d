package api

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

const detailsPrefix = "/api/details/"

// registerDashboard adds the endpoints the dashboard needs beyond the
// file and cluster endpoints (they serve any client alike).
func (s *Server) registerDashboard() {
	e := s.echo
	e.GET("/api/events", s.getEvents)
	e.GET("/api/members", s.getMembers)
	e.GET("/api/metrics/history", s.getMetricsHistory)
	e.GET(detailsPrefix+"*", s.getDetails)
	e.POST("/api/move", s.postMove)
	e.POST("/api/conflicts/keep", s.postKeepConflict)
	s.registerCRDT()
	s.registerCPUProfile()
	s.registerUI()
}

// dashCall runs fn against the dashboard, or answers 503 without one.
func (s *Server) dashCall(c echo.Context, fn func(ctx context.Context, d Dashboard) (any, error)) error {
	if s.cfg.Dashboard == nil {
		return httpErr(http.StatusServiceUnavailable, "dashboard data not available on this node")
	}
	v, err := fn(c.Request().Context(), s.cfg.Dashboard)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) getMembers(c echo.Context) error {
	return s.dashCall(c, func(ctx context.Context, d Dashboard) (any, error) { return d.Members(ctx) })
}

func (s *Server) getMetricsHistory(c echo.Context) error {
	return s.dashCall(c, func(ctx context.Context, d Dashboard) (any, error) { return d.MetricsHistory(), nil })
}

// Details is the answer of GET /api/details/<path>: the metadata, the
// content versions (winner first), and for files where each chunk of the
// shown version should be and is, with the replication state in words.
type Details struct {
	Metadata
	Versions    []crdt.VersionDesc `json:"versions"`
	Chunks      []ChunkPlacement   `json:"chunks"`
	Replication string             `json:"replication"` // "replicated", "under-replicated", "inline" (in the metadata), "empty"
	Reasons     []string           `json:"reasons,omitempty"`
}

// maxDetailChunks bounds the chunks whose placement one details answer
// looks up (one round trip per holder in any case).
const maxDetailChunks = 4096

func (s *Server) getDetails(c echo.Context) error {
	p, err := clusterPath(c, detailsPrefix)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	a, err := s.fs.Walk(ctx, p)
	if err != nil {
		return readErr(err)
	}
	d := Details{Metadata: metadataOf(p, a, s.inodeInfos(a)[0]), Versions: []crdt.VersionDesc{}, Chunks: []ChunkPlacement{}}
	var ids []chunk.ID
	var content crdt.Content
	_ = s.fs.Meta().View(func(v *crdt.View) error {
		if reg, err := v.Registers(a.Ref.Inode); err == nil {
			d.Versions = reg.Versions
		}
		d.Metadata.ConflictOf = conflictOf(v, p, a)
		content, _ = v.Version(a.Ref)
		return nil
	})
	if a.Kind != crdt.KindFile {
		d.Replication = "not a file"
		return c.JSON(http.StatusOK, d)
	}
	content.EachChunk(0, func(_ int64, id crdt.ChunkID) bool {
		ids = append(ids, chunk.ID(id))
		return len(ids) < maxDetailChunks
	})
	switch {
	case len(content.Inline) > 0:
		d.Replication = "inline (small files live in the metadata, on every member)"
	case len(ids) == 0:
		d.Replication = "empty"
	case s.cfg.Dashboard == nil:
		d.Replication = "unknown (no placement on this server)"
	default:
		if d.Chunks, err = s.cfg.Dashboard.Placement(ctx, ids); err != nil {
			return err
		}
		d.Replication = "replicated"
		seen := map[string]bool{}
		for _, cp := range d.Chunks {
			if len(cp.Verified) < cp.Want {
				d.Replication = "under-replicated"
				if !seen[cp.Reason] {
					seen[cp.Reason] = true
					d.Reasons = append(d.Reasons, cp.Reason)
				}
			}
		}
	}
	return c.JSON(http.StatusOK, d)
}

// conflictOf returns the name the entry at p is a conflict copy of ("" if
// it is none): a content version shown beside the file, or the loser of
// a name clash.
func conflictOf(v *crdt.View, p string, a replica.Attr) string {
	shown, dir := path.Base("/"+p), path.Dir("/"+p)
	for _, d := range v.LiveDentries(a.Ref.Inode) {
		pl, ok1 := v.Place(d)
		dp, ok2 := v.Path(d)
		switch {
		case !ok1 || !ok2:
		case !a.Ref.Version.IsZero():
			if path.Dir(dp) == dir {
				return path.Base(dp)
			}
		case dp == "/"+p && pl.Name != shown && len(v.NameClash(pl.Parent, pl.Name)) > 1:
			return pl.Name
		}
	}
	return ""
}

// markConflicts fills ConflictOf of listing entries (dir is the listed
// directory's cleaned path).
func (s *Server) markConflicts(dir string, ents []Metadata, attrs []replica.Attr) {
	_ = s.fs.Meta().View(func(v *crdt.View) error {
		for i := range ents {
			ents[i].ConflictOf = conflictOf(v, path.Join(dir, path.Base(ents[i].Path)), attrs[i])
		}
		return nil
	})
}

// MoveBody is the body of POST /api/move.
type MoveBody struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Overwrite bool   `json:"overwrite"` // replace an existing target (a file, or an empty directory)
}

// postMove renames or moves a file or directory (replica.FS.Rename): 200
// with the metadata at the new place; 409 when the target exists and
// overwrite is false, or a directory would move into itself.
func (s *Server) postMove(c echo.Context) error {
	var b MoveBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	from, err := CleanPath(b.From)
	if err != nil {
		return err
	}
	to, err := CleanPath(b.To)
	if err != nil {
		return err
	}
	if from == "" || to == "" {
		return httpErr(http.StatusBadRequest, `"from" and "to" must name entries below the root`)
	}
	ctx := c.Request().Context()
	od, on, err := s.fs.WalkParent(ctx, from)
	if err != nil {
		return readErr(err)
	}
	nd, nn, err := s.fs.WalkParent(ctx, to)
	if err != nil {
		return readErr(err)
	}
	var flags crdt.RenameFlags
	if !b.Overwrite {
		flags = crdt.RenameNoReplace
	}
	if err := s.fs.Rename(ctx, od, on, nd, nn, flags); err != nil {
		if errors.Is(err, crdt.ErrExist) {
			return httpErr(http.StatusConflict, "/"+to+" exists (send \"overwrite\": true to replace it)")
		}
		return err
	}
	a, err := s.fs.Walk(ctx, to)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, metadataOf(to, a, s.inodeInfos(a)[0]))
}

// KeepBody is the body of POST /api/conflicts/keep.
type KeepBody struct {
	Path string `json:"path"`
}

// postKeepConflict resolves a conflict by keeping the entry at path
// (replica.FS.KeepConflict): 200 with the metadata of the kept entry at
// its name; 400 when the path is in no conflict.
func (s *Server) postKeepConflict(c echo.Context) error {
	var b KeepBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	p, err := CleanPath(b.Path)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	kept, err := s.fs.KeepConflict(ctx, p)
	if err != nil {
		return readErr(err)
	}
	kp := strings.TrimPrefix(kept, "/")
	a, err := s.fs.Walk(ctx, kp)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, metadataOf(kp, a, s.inodeInfos(a)[0]))
}
