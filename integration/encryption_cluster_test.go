package integration

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/sealed"
)

// encCopies counts, for every chunk of want, the copies on plain nodes
// (files named by id) plus the encrypted node's (files named by its keyed
// name, computed here from the passphrase).
func encCopies(t testing.TB, enc *Node, keys *atrest.Keys, plain ...*Node) map[string]int {
	got := chunkCopies(plain...)
	names := sealed.New(nil, keys)
	onEnc := map[string]bool{}
	filepath.WalkDir(filepath.Join(enc.NodeDir(), "chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && len(d.Name()) == 64 {
			onEnc[d.Name()] = true
		}
		return nil
	})
	for id := range got {
		cid, _ := chunk.ParseID(id)
		if onEnc[names.Name(cid).String()] {
			got[id]++
		}
	}
	return got
}

// TestEncryptedNodeInCluster: one encrypted node among two plain ones in
// network namespaces replicates both ways (the wire carries plain encoded
// blobs, each node seals its own disk), serves reads, and is repaired when
// its copies are damaged.
func TestEncryptedNodeInCluster(t *testing.T) {
	net := NewNet(t, 3)
	p0 := startReplNode(t, net.Hosts[0], "p0")
	p1 := startReplNode(t, net.Hosts[1], "p1")
	enc := StartNode(t, NodeOptions{NodeID: "e2", Wrap: net.Hosts[2].Wrap(), Env: keyEnv(encKey),
		ExtraArgs: []string{"--discovery-port", "9999", "--cluster-key", clusterKey, "--http-port", "8080", "--chunk-size", replChunkSize}})
	keys, err := atrest.Unlock(enc.NodeDir(), []byte(encKey))
	if err != nil {
		t.Fatal(err)
	}
	apiCall(t, net.Hosts[0], "PUT", "/api/partition-sync-interval", `{"partition_sync_interval_seconds": 1}`)
	apiCall(t, net.Hosts[0], "PUT", "/api/replication-factor", `{"replication_factor": 3}`)

	fromPlain := markedData(640<<10, 7)
	writeFileSync(t, filepath.Join(p0.Mountpoint(), "from-plain.bin"), fromPlain, 0o644)
	fromEnc := markedData(384<<10, 8)
	writeFileSync(t, filepath.Join(enc.Mountpoint(), "from-enc.bin"), fromEnc, 0o644)
	eventually(t, 30*time.Second, "both files everywhere", func() string {
		for _, n := range []*Node{p0, p1, enc} {
			if msg := contentIs(filepath.Join(n.Mountpoint(), "from-enc.bin"), fromEnc)(); msg != "" {
				return n.NodeID() + ": " + msg
			}
			if msg := contentIs(filepath.Join(n.Mountpoint(), "from-plain.bin"), fromPlain)(); msg != "" {
				return n.NodeID() + ": " + msg
			}
		}
		return ""
	})
	all := chunkCopies(p0, p1)
	if len(all) < 16 {
		t.Fatalf("only %d chunks on the plain nodes", len(all))
	}
	took := eventually(t, 60*time.Second, "RF=3 with the encrypted node", func() string {
		for id, c := range encCopies(t, enc, keys, p0, p1) {
			if c < 3 {
				return fmt.Sprintf("chunk %s has %d copies", id[:8], c)
			}
		}
		return ""
	})
	t.Logf("%d chunks on all three nodes after %v", len(all), took)
	grepDir(t, enc.NodeDir(), map[string][]byte{"the marker": []byte(encMark)})

	// Damage every chunk of the encrypted node: the integrity check finds
	// the copies that fail authentication and repairs them from the plain
	// holders (run before anything reads them: a read that meets a bad
	// copy makes the node verify and replace its copies by itself).
	corruptChunks(t, enc)
	out := apiCall(t, net.Hosts[2], "POST", "/api/integrity-check", "")
	if !strings.Contains(out, `"repaired":`) || strings.Contains(out, `"repaired":0`) {
		t.Fatalf("integrity check did not repair: %s", out)
	}
	out = apiCall(t, net.Hosts[2], "POST", "/api/integrity-check", "")
	if !strings.Contains(out, `"success":true`) || !strings.Contains(out, `"corrupt":[]`) {
		t.Fatalf("after repair the integrity check still fails: %s", out)
	}
	requireContent(t, filepath.Join(enc.Mountpoint(), "from-enc.bin"), fromEnc)

	// Damage them again: reads there fail over to the plain holders, and
	// the node replaces its bad copies (by itself or by the check).
	corruptChunks(t, enc)
	requireContent(t, filepath.Join(enc.Mountpoint(), "from-plain.bin"), fromPlain)
	requireContent(t, filepath.Join(enc.Mountpoint(), "from-enc.bin"), fromEnc)
	if !strings.Contains(enc.Stderr(), "failed authentication") {
		t.Errorf("the encrypted node did not log the corruption")
	}
	eventually(t, 60*time.Second, "the encrypted node's copies good again", func() string {
		out := apiCall(t, net.Hosts[2], "POST", "/api/integrity-check", "")
		if !strings.Contains(out, `"success":true`) || !strings.Contains(out, `"corrupt":[]`) ||
			!strings.Contains(out, fmt.Sprintf(`"chunks_checked":%d,`, len(all))) {
			return out
		}
		for id, c := range encCopies(t, enc, keys, p0, p1) {
			if c < 3 {
				return fmt.Sprintf("chunk %s has %d copies", id[:8], c)
			}
		}
		return ""
	})

	// Lose the encrypted node's chunks altogether: repair fetches them back.
	enc.Stop()
	if err := os.RemoveAll(filepath.Join(enc.NodeDir(), "chunks")); err != nil {
		t.Fatal(err)
	}
	enc.Restart()
	took = eventually(t, 90*time.Second, "repair of the encrypted node", func() string {
		for id, c := range encCopies(t, enc, keys, p0, p1) {
			if c < 3 {
				return fmt.Sprintf("chunk %s has %d copies", id[:8], c)
			}
		}
		return ""
	})
	t.Logf("the encrypted node holds every chunk again %v after losing them", took)
	requireContent(t, filepath.Join(enc.Mountpoint(), "from-enc.bin"), fromEnc)
}
