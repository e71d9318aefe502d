package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/clusterf/clusterf/media"
)

// The media routes: a thin adapter over media.Service (Config.Media).
// Without a service they answer 501.
const (
	mediaPrefix  = "/api/media/"
	streamPrefix = "/api/stream/"
	thumbPrefix  = "/api/thumbnail/"
)

func (s *Server) registerMedia() {
	e := s.echo
	e.GET(mediaPrefix+"*", s.getMediaInfo)
	e.GET(streamPrefix+"*", s.getStream)
	e.GET(thumbPrefix+"*", s.getThumbnail)
	e.HEAD(thumbPrefix+"*", s.getThumbnail)
	player := echo.WrapHandler(media.Player())
	e.GET(media.PlayerPath, player)
	e.GET(media.PlayerPath+"/*", player)
}

// mediaService returns the service or the 501 error.
func (s *Server) mediaService() (*media.Service, error) {
	if s.cfg.Media == nil {
		return nil, httpErr(http.StatusNotImplemented, "media streaming is not enabled on this node")
	}
	return s.cfg.Media, nil
}

// MediaInfo is the answer of GET /api/media/<path>: the probe and the
// URLs to use it.
type MediaInfo struct {
	*media.Info
	FileURL      string `json:"file_url"`             // the file itself (direct play)
	StreamURL    string `json:"stream_url,omitempty"` // HLS master playlist of the default rendition
	ThumbnailURL string `json:"thumbnail_url"`
	PlayerURL    string `json:"player_url"`
}

func escapedPath(prefix, p string) string { return (&url.URL{Path: prefix + p}).EscapedPath() }

func (s *Server) getMediaInfo(c echo.Context) error {
	p, err := clusterPath(c, mediaPrefix)
	if err != nil {
		return err
	}
	m, err := s.mediaService()
	if err != nil {
		return err
	}
	info, err := m.Probe(c.Request().Context(), p)
	if err != nil {
		return mediaErr(c, readErr(err))
	}
	out := MediaInfo{Info: info, FileURL: escapedPath(filesPrefix, p), ThumbnailURL: escapedPath(thumbPrefix, p),
		PlayerURL: media.PlayerPath + "?path=" + url.QueryEscape("/"+p)}
	if len(info.Renditions) > 0 {
		out.StreamURL = escapedPath(streamPrefix, p+"/master.m3u8")
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getStream(c echo.Context) error {
	p, err := clusterPath(c, streamPrefix)
	if err != nil {
		return err
	}
	m, err := s.mediaService()
	if err != nil {
		return err
	}
	src, res, err := media.ParseStreamPath(p)
	if err != nil {
		return mediaErr(c, err)
	}
	session := c.QueryParam("s")
	if res.Kind == media.Master {
		res.Rendition = c.QueryParam("rendition")
		if session == "" { // every load of the master playlist is a new viewer
			var b [9]byte
			rand.Read(b[:])
			session = hex.EncodeToString(b[:])
		}
	}
	if session == "" { // a client that dropped the query: one viewer per address
		session = "addr-" + hex.EncodeToString([]byte(c.RealIP()))
	}
	ans, err := m.Stream(c.Request().Context(), src, res, session)
	if err != nil {
		return mediaErr(c, readErr(err))
	}
	h := c.Response().Header()
	h.Set("Content-Type", ans.ContentType)
	if ans.Immutable {
		h.Set("Cache-Control", "private, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-store")
	}
	http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(ans.Body))
	return nil
}

func (s *Server) getThumbnail(c echo.Context) error {
	p, err := clusterPath(c, thumbPrefix)
	if err != nil {
		return err
	}
	size := media.DefaultThumbSize
	if v := c.QueryParam("size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < media.MinThumbSize || size > media.MaxThumbSize {
			return httpErr(http.StatusBadRequest, "size must be a number of pixels, "+strconv.Itoa(media.MinThumbSize)+"-"+strconv.Itoa(media.MaxThumbSize))
		}
	}
	m, err := s.mediaService()
	if err != nil {
		return err
	}
	th, err := m.Thumbnail(c.Request().Context(), p, size)
	if err != nil {
		return mediaErr(c, readErr(err))
	}
	h := c.Response().Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("ETag", th.ETag)
	h.Set("Cache-Control", "private, no-cache")
	http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(th.Data))
	return nil
}

// mediaErr maps the media package's errors to statuses (the core's go
// through statusOf as everywhere).
func mediaErr(c echo.Context, err error) error {
	var busy *media.BusyError
	switch {
	case errors.As(err, &busy):
		c.Response().Header().Set("Retry-After", strconv.Itoa(max(int(busy.RetryAfter.Seconds()), 1)))
		return httpErr(http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, media.ErrUnavailable):
		return httpErr(http.StatusNotImplemented, err.Error())
	case errors.Is(err, media.ErrNotMedia):
		return httpErr(http.StatusUnsupportedMediaType, err.Error())
	case errors.Is(err, media.ErrNoRendition), errors.Is(err, media.ErrNoSegment), errors.Is(err, media.ErrNoThumbnail):
		return httpErr(http.StatusNotFound, err.Error())
	case errors.Is(err, media.ErrChanged):
		return httpErr(http.StatusGone, err.Error())
	case errors.Is(err, media.ErrSuperseded):
		return httpErr(http.StatusConflict, err.Error())
	case errors.Is(err, media.ErrBadRequest):
		return httpErr(http.StatusBadRequest, err.Error())
	case errors.Is(err, media.ErrTranscode):
		return httpErr(http.StatusBadGateway, err.Error())
	case errors.Is(err, media.ErrTimeout):
		return httpErr(http.StatusGatewayTimeout, err.Error())
	case errors.Is(err, media.ErrClosed):
		return httpErr(http.StatusServiceUnavailable, err.Error())
	}
	return err
}

// mediaStatus is the media part of /status (nil without a service).
func (s *Server) mediaStatus(st *Status) {
	if s.cfg.Media == nil {
		return
	}
	ms := s.cfg.Media.Status()
	st.Media = &ms
	if !ms.Available {
		st.Warnings = append(st.Warnings, "media unavailable: "+ms.Reason)
	}
}
