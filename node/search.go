package node

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/search"
	"github.com/clusterf/clusterf/transport"
)

// searchDir is the search index's directory in the node dir.
const searchDir = "search"

// startSearch opens the search index (rebuilding it when it is missing,
// corrupt or of an older format), serves search/extract to the other
// members and keeps the index current from the change feed until ctx
// ends; the index is closed when it stops.
func (n *Node) startSearch(ctx context.Context) error {
	idx, err := search.Open(search.Config{
		FS:  n.FS,
		Dir: filepath.Join(n.Dir, searchDir),
		// Encrypted node: the index would hold names and text in the clear.
		MemoryOnly: n.keys != nil,
		Logger:     n.log.With("component", "search"),
		Limits:     search.Limits{MaxText: n.cfg.SearchMaxText},
		Remote:     searchRemote{n},
	})
	if err != nil {
		return err
	}
	if err := n.Cluster.Handle(search.MethodExtract, func(ctx context.Context, _ transport.PeerInfo, req []byte) ([]byte, error) {
		return idx.HandleExtract(ctx, req)
	}); err != nil {
		idx.Close()
		return err
	}
	n.search = idx
	n.goFunc(func() {
		if err := idx.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			n.log.Error("search index stopped; searches answer from what it has", "err", err)
		}
		<-ctx.Done()
		if err := idx.Close(); err != nil {
			n.log.Warn("close search index", "err", err)
		}
	})
	return nil
}

// Search returns the node's search index (nil before Start).
func (n *Node) Search() *search.Index { return n.search }

// searcher is the index for the HTTP API (a nil interface without one).
func (n *Node) searcher() searchAPI {
	if n.search == nil {
		return nil
	}
	return n.search
}

type searchAPI interface {
	Search(ctx context.Context, r search.Request) (*search.Result, error)
	Stats() search.Stats
}

// searchRemote lets the index ask the members holding a file's content
// to extract it.
type searchRemote struct{ n *Node }

func (r searchRemote) Holders(id chunk.ID) []string {
	up := r.n.Cluster.UpMembers()
	seen := map[string]bool{string(r.n.ID): true}
	var out []string
	for _, h := range r.n.Cluster.Placement().Holders(id) {
		if up[h] && !seen[h] {
			out, seen[h] = append(out, h), true
		}
	}
	var rest []string
	for m := range up {
		if !seen[m] {
			rest = append(rest, m)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func (r searchRemote) Call(ctx context.Context, member, method string, req []byte) ([]byte, error) {
	return r.n.Cluster.CallMember(ctx, member, 30*time.Second, method, req)
}
