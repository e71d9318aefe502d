package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/filesync"
)

// Config describes one node. The zero value of each field is its default.
type Config struct {
	// SearchMaxText is the most text the search index keeps per file
	// (bytes; 0: 1 MiB; < 0: no text).
	SearchMaxText int64

	NodeID        string // "" = generated at first start and remembered in DataDir
	DataDir       string // base data dir; the node's files live in DataDir/<node-id>
	HTTPPort      int    // 0 = random in 30000-60000
	HTTPAddr      string // listen address (default 127.0.0.1)
	HTTPToken     string // "" = generated into the data dir at first start
	HTTPInsecure  bool   // allow a non-loopback HTTPAddr without a token
	WebDAV        string // cluster path served over WebDAV at the HTTP root ("" = only /webdav/)
	Version       string // shown on /status
	DiscoveryPort int    // 0 = broadcast discovery off
	// BroadcastAddrs overrides the discovery destinations (tests, simulation).
	BroadcastAddrs []string
	// HTTPHosts are host names (besides localhost, *.localhost, IP
	// literals and HTTPAddr) the HTTP API answers without the token; a
	// request for another Host is refused (DNS-rebinding protection).
	HTTPHosts []string
	// DiscoveryHost is the address discovery binds ("" = all IPv4).
	DiscoveryHost string
	// DiscoveryRateLimit is the accepted announcements per second per
	// source IP (0 = discovery's default; simulation raises it, since all
	// its nodes share 127.0.0.1).
	DiscoveryRateLimit float64
	// QUICHost is the address the transport binds ("" = 0.0.0.0).
	QUICHost     string
	QUICPort     int           // 0 = random
	ClusterKey   string        // "" = open LAN mode (loud warning)
	Peers        []string      // static peers' QUIC addresses host:port
	SyncInterval time.Duration // 0 = 2s
	NoStore      bool          // client mode: hold no partitions
	CacheSize    int64         // client read cache bytes (0 = 256 MiB)
	GCGrace      time.Duration // unreferenced chunks are collected after this (0 = 10m)
	// ForgetAfter forgets a member not seen for this long since start (0: never).
	ForgetAfter time.Duration
	// ClockOffset skews this node's metadata clock (fault-injection tests:
	// the HLC must cope with peers whose wall clocks are off).
	ClockOffset time.Duration
	// StagingMemory is the memory files being written may use for chunks
	// not stored yet, before they go to staging files in the data dir
	// (0: replica.DefaultStagingMemory; < 0: none).
	StagingMemory int64
	// CacheTimeout sets the mount's kernel entry and attribute cache
	// timeouts (tests: a long one proves remote changes invalidate).
	CacheTimeout time.Duration
	// EncryptionKey is the passphrase of encryption at rest ("" = off).
	// Like the storage engine it is decided at the first start: a key for
	// a dir created without one, none for an encrypted dir, or a wrong one
	// is an error wrapping atrest.ErrKey, and nothing is touched.
	EncryptionKey string
	StorageMajor  string // chunk storage engine ("" = as recorded, else rawfile)
	StorageMinor  string
	Mount         string // mount point ("" = no FUSE mount)
	ChunkSize     int    // 0 = replica.DefaultChunkSize
	Debug         bool   // log every FUSE request
	Logger        *slog.Logger
	// MediaCacheSize caps the node-local media cache (<node dir>/media-cache)
	// in bytes (0 = media.DefaultCacheSize).
	MediaCacheSize int64
	// MediaTranscodes bounds concurrent ffmpeg stream runs (0 = cores).
	MediaTranscodes int
	// MediaAuto lists cluster paths whose new media files are prepared in
	// the background (probe, thumbnail, keyframes, transcode).
	MediaAuto []string
	// Sync lists the import/export pairs the node runs (--import-dir,
	// --export-dir, --cluster-dir; filesync).
	Sync []filesync.PairConfig
}

// nodeIDFile remembers a generated node id in the base data dir.
const nodeIDFile = ".node-id"

// resolveNodeID returns the configured id, the remembered one, or a new one
// (remembered for the next start).
func resolveNodeID(cfg Config) (crdt.NodeID, error) {
	if cfg.NodeID != "" {
		id := crdt.NodeID(cfg.NodeID)
		if !crdt.ValidNodeID(id) {
			return "", fmt.Errorf("invalid node id %q: use 1-64 characters from A-Z a-z 0-9 . _ -", cfg.NodeID)
		}
		return id, nil
	}
	path := filepath.Join(cfg.DataDir, nodeIDFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := crdt.NodeID(strings.TrimSpace(string(b)))
		if !crdt.ValidNodeID(id) {
			return "", fmt.Errorf("node id file %s holds an invalid id %q", path, b)
		}
		return id, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("read node id: %w", err)
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	host, _ := os.Hostname()
	host = strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			return c
		}
		return -1
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	if host == "" {
		host = "node"
	}
	id := crdt.NodeID(host + "-" + hex.EncodeToString(r[:]))
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("remember node id: %w", err)
	}
	return id, nil
}
