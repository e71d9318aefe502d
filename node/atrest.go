package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/engines"
	"github.com/clusterf/clusterf/chunk/sealed"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// resolveKeys unlocks (or, at the first start with a key, creates) the
// node dir's encryption keys; nil means encryption at rest is off. It runs
// before anything is written to dir, so a wrong, missing or extra key
// (errors wrapping atrest.ErrKey) leaves the dir as it was.
func resolveKeys(dir string, cfg Config) (*atrest.Keys, error) {
	fresh := true
	for _, name := range []string{engines.FormatFile, "meta.db", "chunks"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			fresh = false
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	keys, err := atrest.Resolve(dir, []byte(cfg.EncryptionKey), fresh, atrest.DefaultParams)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	return keys, nil
}

// Encrypted reports whether the node seals what it writes to its data dir.
func (n *Node) Encrypted() bool { return n.keys != nil }

// sealStore puts the chunk engine under the sealing decorator when
// encryption is on.
func (n *Node) sealStore(s chunk.Store) chunk.Store {
	if n.keys == nil {
		return s
	}
	return sealed.New(s, n.keys)
}

// metaOptions seals meta.db's records when encryption is on.
func (n *Node) metaOptions() []crdt.BoltOption {
	if n.keys == nil {
		return nil
	}
	return []crdt.BoltOption{crdt.WithSealer(n.keys.Sealer("meta.db"))}
}

// openStaging encrypts the write-back staging files when encryption is on
// (nil: replica's plain temporary files).
func (n *Node) openStaging() func(dir, pattern string) (replica.StagingFile, error) {
	if n.keys == nil {
		return nil
	}
	return func(dir, pattern string) (replica.StagingFile, error) {
		return atrest.NewStagingFile(dir, pattern)
	}
}

// tokenAD binds the sealed HTTP token to its file.
var tokenAD = []byte("http-token")

// readToken returns the token saved in path ("" if none), opening it when
// encryption is on.
func (n *Node) readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return OpenToken(n.keys, b)
}

// OpenToken returns the HTTP token from the bytes of a node's token file
// (keys: the node dir's keys, nil when it is not encrypted).
func OpenToken(keys *atrest.Keys, b []byte) (string, error) {
	if keys != nil {
		p, err := keys.Sealer("http-token").Open(nil, b, tokenAD)
		if err != nil {
			return "", fmt.Errorf("http token: %w", err)
		}
		b = p
	}
	return strings.TrimSpace(string(b)), nil
}

// writeToken saves token to path, sealed when encryption is on.
func (n *Node) writeToken(path, token string) error {
	b := []byte(token + "\n")
	if n.keys != nil {
		b = n.keys.Sealer("http-token").Seal(nil, b, tokenAD)
	}
	return os.WriteFile(path, b, 0o600)
}
