package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterf/clusterf/media"
	"github.com/clusterf/clusterf/replica"
)

// Config builds a Server.
type Config struct {
	// FS is the filesystem core the file endpoints serve. Required.
	FS *replica.FS
	// Cluster answers the cluster endpoints; nil answers them with 503.
	Cluster Cluster
	// Logger receives request errors (nil: discard).
	Logger *slog.Logger
	// Token is the shared secret; RequireToken makes every request carry it
	// as "Authorization: Bearer <token>" or as the basic-auth password.
	Token        string
	RequireToken bool
	// WebDAV, when set, serves every request under /webdav/ (built with
	// prefix "/webdav", e.g. webdav.New(fs, root, "/webdav", log)). With
	// WebDAVAtRoot, every request no API route claims (so a bare
	// http://host:port works as a network drive) goes to WebDAVRoot (built
	// with prefix ""), or to WebDAV when WebDAVRoot is nil. Handlers get
	// the request unchanged, URL path included.
	WebDAV       http.Handler
	WebDAVAtRoot bool
	WebDAVRoot   http.Handler
	// Registry receives the HTTP metrics and is exposed at /api/metrics
	// (nil: a private registry with Go and process collectors).
	Registry *prometheus.Registry
	// NodeID labels the HTTP metrics (node="...") so several nodes can
	// share a registry.
	NodeID string
	// MaxUpload bounds one PUT body in bytes (0: no limit; 413 above it).
	MaxUpload int64
	// Owner owns files and directories created through the API.
	Owner replica.Owner
	// Search answers /api/search (nil: 503).
	Search Searcher
	// Media serves /api/media, /api/stream, /api/thumbnail and the player
	// page (nil: those answer 501).
	Media *media.Service
	// AllowedHosts are the host names (beyond loopback names and IP
	// literals) the Host header may carry; "*.example.org" allows every
	// subdomain. A request with another Host is refused (403) unless it
	// carries the valid Token: DNS-rebinding protection, see origin.go.
	AllowedHosts []string
	// Sync serves /api/sync (import/export pairs and jobs); nil: 503.
	Sync Sync
	// UI serves the web dashboard's pages and assets (UIPaths; package
	// web); nil answers them with 503.
	UI http.Handler
	// Dashboard provides the event log, members, metric history and
	// placement behind the dashboard's endpoints (nil: 503).
	Dashboard Dashboard
	// Version is shown to the dashboard (GET /api/ui).
	Version string
}

// Server is the HTTP API of one node. It holds no goroutines; it is safe
// for concurrent use.
type Server struct {
	fs      *replica.FS
	cluster Cluster
	log     *slog.Logger
	cfg     Config
	echo    *echo.Echo
	metrics *httpMetrics
	reg     *prometheus.Registry
	sums    *checksumCache
	routes  map[string]bool // registered route paths (metric label values)
	hosts   *hostPolicy
	logins  loginCodes // one-time login links (ui.go)
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.FS == nil {
		return nil, errors.New("api: Config.FS is required")
	}
	if cfg.RequireToken && cfg.Token == "" {
		return nil, errors.New("api: RequireToken without a Token")
	}
	if cfg.MaxUpload < 0 {
		return nil, errors.New("api: negative MaxUpload")
	}
	hosts, err := newHostPolicy(cfg.AllowedHosts)
	if err != nil {
		return nil, err
	}
	s := &Server{
		fs:      cfg.FS,
		cluster: cfg.Cluster,
		log:     cfg.Logger,
		cfg:     cfg,
		sums:    newChecksumCache(4096),
		routes:  map[string]bool{},
		hosts:   hosts,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.reg = cfg.Registry
	if s.reg == nil {
		s.reg = newDefaultRegistry()
	}
	m, err := newHTTPMetrics(s.reg, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	s.metrics = m

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.recoverPanic)
	e.Use(s.observe)
	e.Use(s.checkHostAndOrigin)
	if cfg.RequireToken {
		e.Use(s.requireToken)
	}
	s.echo = e
	s.register()
	for _, r := range e.Routes() {
		s.routes[r.Path] = true
	}
	return s, nil
}

// recoverPanic turns a handler panic into a logged 500 (http.ErrAbortHandler
// is passed on: it means "drop the connection").
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("http handler panic", "path", c.Request().URL.Path, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}()
		return next(c)
	}
}

// Handler returns the HTTP handler of all routes.
func (s *Server) Handler() http.Handler { return s.echo }

// Route prefixes of path-taking routes.
const (
	filesPrefix    = "/api/files/"
	metadataPrefix = "/api/metadata/"
)

// webdavMethods are the methods WebDAV needs beyond the API's.
var webdavMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPost,
	http.MethodOptions, "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
}

// register adds every route. Keep openapi.json in step (TestOpenAPICoversRoutes).
func (s *Server) register() {
	e := s.echo
	// Files.
	for _, p := range []string{"/api/files", filesPrefix + "*"} {
		e.GET(p, s.getFile)
		e.HEAD(p, s.getFile)
	}
	e.PUT(filesPrefix+"*", s.putFile)
	e.DELETE(filesPrefix+"*", s.deleteFile)
	e.POST(filesPrefix+"*", s.postFile)
	e.GET(metadataPrefix+"*", s.getMetadata)
	s.registerSearch()
	s.registerMedia() // media.go

	// Cluster.
	e.GET("/status", s.getStatus)
	e.GET("/api/cluster-stats", s.getClusterStats)
	e.GET("/api/partition-stats", s.getPartitionStats)
	e.GET("/api/replication-factor", s.getReplicationFactor)
	e.PUT("/api/replication-factor", s.putReplicationFactor)
	e.PUT("/api/partition-sync-interval", s.putPartitionSyncInterval)
	e.GET("/api/under-replicated", s.getUnderReplicated)
	e.POST("/api/integrity-check", s.postIntegrityCheck)
	e.POST("/api/forget-node", s.postForgetNode)
	s.registerSync()

	// Observability.
	e.GET("/api/metrics", s.getMetrics)
	e.GET("/api/openapi.json", s.getOpenAPI)
	s.registerProfiling()
	s.registerDashboard() // dashboard_handlers.go: events, members, details, move, CRDT, CPU profile, UI

	if s.cfg.WebDAV != nil {
		h := echo.WrapHandler(s.cfg.WebDAV)
		for _, m := range webdavMethods {
			e.Add(m, "/webdav", h)
			e.Add(m, "/webdav/*", h)
		}
		if s.cfg.WebDAVAtRoot {
			if s.cfg.WebDAVRoot != nil {
				h = echo.WrapHandler(s.cfg.WebDAVRoot)
			}
			// Echo prefers a matching not-found route over 405, so these
			// handlers answer 405 themselves for API paths.
			e.RouteNotFound("/api/*", func(c echo.Context) error {
				if err := s.methodNotAllowed(c); err != nil {
					return err
				}
				return echo.ErrNotFound // unknown /api/ paths stay JSON 404s
			})
			e.RouteNotFound("/*", func(c echo.Context) error {
				if err := s.methodNotAllowed(c); err != nil {
					return err
				}
				return h(c)
			})
		}
	}
}

// methodNotAllowed returns a 405 error (and sets Allow) when an API route
// serves the request path with other methods, else nil.
func (s *Server) methodNotAllowed(c echo.Context) error {
	p := c.Request().URL.Path
	var allow []string
	seen := map[string]bool{}
	for _, r := range s.echo.Routes() {
		if r.Method == echo.RouteNotFound || !isAPIPath(r.Path) || seen[r.Method] {
			continue
		}
		prefix, wild := strings.CutSuffix(r.Path, "*")
		if p == r.Path || (wild && strings.HasPrefix(p, prefix)) {
			seen[r.Method] = true
			allow = append(allow, r.Method)
		}
	}
	if len(allow) == 0 {
		return nil
	}
	c.Response().Header().Set("Allow", strings.Join(allow, ", "))
	return echo.ErrMethodNotAllowed
}

// isAPIPath reports whether a route path belongs to the REST API (as
// opposed to WebDAV), for tests and the OpenAPI check.
func isAPIPath(p string) bool {
	return !(p == "/webdav" || strings.HasPrefix(p, "/webdav/") || p == "/") // "/": WebDAV or the redirect to the dashboard
}
