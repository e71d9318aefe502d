package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/clusterf/clusterf/api"
	"github.com/clusterf/clusterf/media"
	"github.com/clusterf/clusterf/web"
	"github.com/clusterf/clusterf/webdav"
)

// tokenFile holds the HTTP access token, generated at first start.
const tokenFile = "http-token"

// listenHTTP binds the HTTP port: HTTPPort, or a random free port in
// 30000-60000 when it is 0.
func (n *Node) listenHTTP() (net.Listener, error) {
	host := n.cfg.HTTPAddr
	if host == "" {
		host = "127.0.0.1"
	}
	if n.cfg.HTTPPort != 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(n.cfg.HTTPPort)))
		if err != nil {
			return nil, fmt.Errorf("listen http: %w", err)
		}
		return l, nil
	}
	var lastErr error
	for range 50 {
		r, _ := rand.Int(rand.Reader, big.NewInt(30001))
		port := 30000 + int(r.Int64())
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			return l, nil
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("listen http: no free port in 30000-60000: %w", lastErr)
}

// isLoopback reports whether host only listens on loopback.
func isLoopback(host string) bool {
	if host == "" || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadToken returns the HTTP token: --http-token, else the one in the data
// dir, else a new one saved there (first is true only then).
func (n *Node) loadToken() (token string, first bool, err error) {
	if n.cfg.HTTPToken != "" {
		return n.cfg.HTTPToken, false, nil
	}
	path := filepath.Join(n.Dir, tokenFile)
	saved, err := n.readToken(path) // sealed when encryption is on (atrest.go)
	if err != nil {
		return "", false, fmt.Errorf("read http token: %w", err)
	}
	if saved != "" {
		return saved, false, nil
	}
	var r [24]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", false, err
	}
	token = hex.EncodeToString(r[:])
	if err := n.writeToken(path, token); err != nil {
		return "", false, fmt.Errorf("save http token: %w", err)
	}
	return token, true, nil
}

// startHTTP serves the REST API, WebDAV, metrics and profiling on one port.
func (n *Node) startHTTP(ctx context.Context) error {
	host := n.cfg.HTTPAddr
	token, first, err := n.loadToken()
	if err != nil {
		return err
	}
	require := !isLoopback(host) && !n.cfg.HTTPInsecure
	if !isLoopback(host) && n.cfg.HTTPInsecure {
		n.warnings = append(n.warnings, "HTTP listens on "+host+" without a token (--http-insecure): anyone who can reach it can read and change every file")
		n.log.Warn("HTTP without access control (--http-insecure): anyone who can reach it can read and change every file; to fix, drop --http-insecure so a token is required", "addr", host)
	}
	if require && first {
		n.FirstToken = token
	}
	dav, err := webdav.New(n.FS, "/", "/webdav", n.log)
	if err != nil {
		return fmt.Errorf("webdav: %w", err)
	}
	var davRoot http.Handler
	if n.cfg.WebDAV != "" {
		if davRoot, err = webdav.New(n.FS, n.cfg.WebDAV, "", n.log); err != nil {
			return fmt.Errorf("webdav %s: %w", n.cfg.WebDAV, err)
		}
	}
	reg := n.Registry
	if n.media, err = media.New(media.Config{
		FS:            n.FS,
		CacheDir:      filepath.Join(n.Dir, "media-cache"),
		CacheSize:     n.cfg.MediaCacheSize,
		Keys:          n.keys,
		MaxTranscodes: n.cfg.MediaTranscodes,
		Auto:          n.cfg.MediaAuto,
		Registry:      reg,
		Logger:        n.log,
	}); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	srv, err := api.New(api.Config{
		FS:           n.FS,
		Cluster:      (*clusterView)(n),
		Logger:       n.log,
		Token:        token,
		RequireToken: require,
		WebDAV:       dav,
		WebDAVRoot:   davRoot,
		WebDAVAtRoot: davRoot != nil,
		Registry:     reg,
		NodeID:       string(n.ID),
		AllowedHosts: append([]string{host}, n.cfg.HTTPHosts...),
		Sync:         n.Sync,
		Search:       n.searcher(),
		UI:           web.Handler(),
		Dashboard:    (*dashboardView)(n),
		Version:      n.cfg.Version,
		Media:        n.media,
	})
	if err != nil {
		return err
	}
	if require {
		n.dash.loginCode = srv.NewLoginCode()
	}
	l, err := n.listenHTTP()
	if err != nil {
		return err
	}
	n.httpPort = l.Addr().(*net.TCPAddr).Port
	hs := &http.Server{
		Handler:           api.DurableWrites(srv.Handler(), n.FS), // 2xx: durable (api/durable.go)
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          nil,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	n.goFunc(func() {
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	})
	n.goFunc(func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close()
		}
	})
	n.log.Debug("http serving", "addr", l.Addr().String(), "token_required", require) // the banner shows it
	return nil
}

// DashboardURL returns the web dashboard's URL: with a token required, a
// one-time login link (it sets the token cookie the first time it is
// opened).
func (n *Node) DashboardURL() string {
	if n.dash.loginCode != "" {
		return n.HTTPURL() + "/login?code=" + n.dash.loginCode
	}
	return n.HTTPURL() + "/monitor"
}

// HTTPPort returns the port the HTTP server listens on (0 before Start).
func (n *Node) HTTPPort() int { return n.httpPort }

// HTTPURL returns the base URL of the HTTP server.
func (n *Node) HTTPURL() string {
	host := n.cfg.HTTPAddr
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(n.httpPort))
}
