package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/clusterf/clusterf/chunk"
)

// fileEntry is one path of a node's tree.
type fileEntry struct {
	dir  bool
	size int64
	sha  string // "" for dirs; "ERR: ..." when unreadable
	data []byte
}

func walkTree(root string, keepData bool) (map[string]fileEntry, error) {
	tree := map[string]fileEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			tree[rel] = fileEntry{dir: true}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			tree[rel] = fileEntry{sha: "ERR: " + err.Error()}
			return nil
		}
		e := fileEntry{size: int64(len(b)), sha: shaHex(b)}
		if keepData {
			e.data = b
		}
		tree[rel] = e
		return nil
	})
	return tree, err
}

// treeHash hashes path+type+size+content hash of every entry.
func treeHash(tree map[string]fileEntry) string {
	h := sha256.New()
	for _, p := range sortedKeys(tree) {
		e := tree[p]
		fmt.Fprintf(h, "%s\x00%v\x00%d\x00%s\n", p, e.dir, e.size, e.sha)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func mapsKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// convergence reports "" when every node shows the same tree, no entry is
// unreadable, every referenced chunk has RF intact copies on disk and node
// 0 reports no under-replicated partition.
func (c *faultCluster) convergence() (string, map[string]fileEntry) {
	var first map[string]fileEntry
	var firstHash string
	for i, n := range c.nodes {
		tree, err := walkTree(n.Mountpoint(), i == 0)
		if err != nil {
			return fmt.Sprintf("walk %s: %v", n.NodeID(), err), nil
		}
		for p, e := range tree {
			if strings.HasPrefix(e.sha, "ERR") {
				return fmt.Sprintf("%s: %s unreadable: %s", n.NodeID(), p, e.sha), nil
			}
		}
		h := treeHash(tree)
		if i == 0 {
			first, firstHash = tree, h
			continue
		}
		if h != firstHash {
			var diffs []string
			for _, p := range sortedKeys(first) {
				if g, ok := tree[p]; !ok {
					diffs = append(diffs, p+" missing")
				} else if g.sha != first[p].sha || g.dir != first[p].dir {
					diffs = append(diffs, p+" differs")
				}
			}
			for p := range tree {
				if _, ok := first[p]; !ok {
					diffs = append(diffs, p+" extra")
				}
			}
			sort.Strings(diffs)
			return fmt.Sprintf("%s's tree differs from %s's: %s", n.NodeID(), c.nodes[0].NodeID(), strings.Join(diffs[:min(5, len(diffs))], "; ")), nil
		}
	}
	copies := c.intactCopies()
	short := 0
	var example string
	for p, e := range first {
		if e.dir || e.size <= faultInlineMax {
			continue
		}
		for off := 0; off < len(e.data); off += faultChunkSize {
			id := chunk.Sum(e.data[off:min(off+faultChunkSize, len(e.data))]).String()
			if copies[id] < c.cfg.RF {
				short++
				example = fmt.Sprintf("%s chunk %d (%.12s) has %d intact copies", p, off/faultChunkSize, id, copies[id])
			}
		}
	}
	if short > 0 {
		return fmt.Sprintf("%d referenced chunks below RF=%d, e.g. %s", short, c.cfg.RF, example), nil
	}
	out, err := c.net.Hosts[0].API(c.t, "GET", "/api/under-replicated", "")
	if err != nil {
		return "under-replicated: " + err.Error(), nil
	}
	var ur struct {
		Partitions []struct {
			PartitionID string `json:"partition_id"`
			Reason      string `json:"reason"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(out), &ur); err != nil {
		return "under-replicated: " + err.Error(), nil
	}
	if len(ur.Partitions) > 0 {
		return fmt.Sprintf("%d partitions under-replicated, e.g. %s: %s", len(ur.Partitions), ur.Partitions[0].PartitionID, ur.Partitions[0].Reason), nil
	}
	return "", first
}

// conflictOf reports whether name is a conflict copy of base
// ("f1.bin" -> "f1.conflict-<node>-<time>.bin").
func conflictOf(name, base string) bool {
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	return strings.HasPrefix(name, stem+".conflict-") && strings.HasSuffix(name, ext)
}

// check compares the converged tree with every client's model.
func (c *faultCluster) check(res *FaultResult, clients []*faultClient, tree map[string]fileEntry) {
	for _, fc := range clients {
		res.OpsAcked += fc.acked
		res.CloseAcked += fc.closed
		res.OpsUnknown += fc.unknown
		// Every entry below the client's directory, by path relative to it.
		listing := map[string]fileEntry{}
		for p, e := range tree {
			if rel, ok := strings.CutPrefix(p, fc.dir+string(filepath.Separator)); ok {
				listing[rel] = e
			}
		}
		for _, name := range fc.files {
			c.checkFile(res, fc, name, listing)
		}
		c.checkDirs(res, fc, listing)
		c.checkExtra(res, fc, listing)
	}
	for p := range tree {
		top := strings.SplitN(p, string(filepath.Separator), 2)[0]
		if !slices.ContainsFunc(clients, func(fc *faultClient) bool { return fc.dir == top }) {
			res.Unexpected++
			res.Problems = append(res.Problems, "unexpected entry at the root: "+p)
		}
	}
}

// problem counts a violation and describes it.
func (res *FaultResult) problem(counter *int, fc *faultClient, format string, args ...any) {
	*counter++
	res.Problems = append(res.Problems, fmt.Sprintf("%s: ", fc.dir)+fmt.Sprintf(format, args...))
}

// conflictCopy reports whether path cn is a conflict copy of file name
// (same directory).
func conflictCopy(cn, name string) bool {
	return filepath.Dir(cn) == filepath.Dir(name) && conflictOf(filepath.Base(cn), filepath.Base(name))
}

// checkFile checks one of the client's files against its model.
func (c *faultCluster) checkFile(res *FaultResult, fc *faultClient, name string, listing map[string]fileEntry) {
	want := fc.state[name]
	accept := maps2(want, fc.floating[name])
	e, present := listing[name]
	got := ""
	if present {
		got = e.sha
	}
	if accept[got] && !e.dir {
		res.Verified++
		return
	}
	if present && !e.dir && slices.ContainsFunc(fc.partial[name], func(pw partialWrite) bool {
		return len(e.data) >= pw.minLen && bytes.HasPrefix(pw.full, e.data)
	}) {
		res.Verified++
		res.Partial++
		return
	}
	// The expected version may survive as a conflict copy.
	copyFound := false
	for cn, ce := range listing {
		if !ce.dir && conflictCopy(cn, name) && accept[ce.sha] {
			copyFound = true
		}
	}
	switch {
	case e.dir:
		res.problem(&res.Unexpected, fc, "%s: a directory where a file should be", name)
	case copyFound && (!present || fc.history[got]):
		res.Verified++
	case present && want[""] && len(want) == 1 && fc.history[got]:
		res.problem(&res.Resurrected, fc, "%s: acknowledged delete resurrected (content %.12s)", name, got)
	case present && !fc.history[got]:
		res.problem(&res.Corrupt, fc, "%s: content %.12s (%d bytes) was never written; want one of %v", name, got, e.size, shortSet(accept))
	case present:
		res.problem(&res.Lost, fc, "%s: holds an older version %.12s; acknowledged %v lost", name, got, shortSet(accept))
	default:
		res.problem(&res.Lost, fc, "%s: missing; acknowledged content %v lost", name, shortSet(accept))
	}
}

// checkDirs checks the subdirectories a delete-heavy client removes as a
// whole: one whose acknowledged removal was the last word must be gone, one
// acknowledged created and not removed since must be there.
func (c *faultCluster) checkDirs(res *FaultResult, fc *faultClient, listing map[string]fileEntry) {
	for _, d := range fc.dirs {
		e, ok := listing[d]
		accept := maps2(fc.dirState[d], fc.dirFloat[d])
		switch {
		case ok && !e.dir:
			res.problem(&res.Unexpected, fc, "%s: a file (%d bytes, %.12s) where a directory should be", d, e.size, e.sha)
		case ok && !accept["d"]:
			res.problem(&res.Resurrected, fc, "%s/: acknowledged recursive delete resurrected the directory", d)
		case !ok && !accept[""]:
			res.problem(&res.Lost, fc, "%s/: acknowledged directory missing", d)
		}
	}
}

// checkExtra checks the entries the client never named: conflict copies of
// its files, REST upload temporaries, or unexpected.
func (c *faultCluster) checkExtra(res *FaultResult, fc *faultClient, listing map[string]fileEntry) {
	for name, e := range listing {
		if slices.Contains(fc.files, name) || slices.Contains(fc.dirs, name) {
			continue
		}
		isCopy := !e.dir && slices.ContainsFunc(fc.files, func(f string) bool { return conflictCopy(name, f) })
		switch {
		case isCopy && fc.history[e.sha]:
			res.Conflicts++
			res.Problems = append(res.Problems, fmt.Sprintf("%s: conflict copy %s of a single-owner file (product finding; loses nothing)", fc.dir, name))
			c.logf("checker: conflict copy %s/%s (content %.12s) — owner ops are sequential, so this is unexpected but loses nothing; the client's ops on it:\n%s",
				fc.dir, name, e.sha, fc.opsOn(name))
		case isCopy:
			res.problem(&res.Corrupt, fc, "conflict copy %s holds content %.12s that was never written", name, e.sha)
		case strings.HasPrefix(filepath.Base(name), ".clusterf-upload-"):
			res.UploadTemps++
			res.Problems = append(res.Problems, fmt.Sprintf("%s: leftover REST upload temporary %s (%d bytes) visible in the tree (product finding; not data loss)", fc.dir, name, e.size))
		default:
			res.problem(&res.Unexpected, fc, "unexpected entry %s (dir=%v, %d bytes, %.12s)", name, e.dir, e.size, e.sha)
		}
	}
}

func maps2(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func shortSet(s map[string]bool) []string {
	var out []string
	for k := range s {
		if k == "" {
			out = append(out, "<absent>")
		} else {
			out = append(out, k[:12])
		}
	}
	sort.Strings(out)
	return out
}
func sortedKeys[V any](m map[string]V) []string {
	out := mapsKeys(m)
	sort.Strings(out)
	return out
}

// diagnose explains a convergence failure: for every file some node cannot
// read, where each of its chunks is on disk (intact copies per node), as
// computed from the first node that can read it.
func (c *faultCluster) diagnose() []string {
	trees := make([]map[string]fileEntry, len(c.nodes))
	for i, n := range c.nodes {
		trees[i], _ = walkTree(n.Mountpoint(), true)
	}
	var out []string
	for i := range c.nodes {
		for p, e := range trees[i] {
			if !strings.HasPrefix(e.sha, "ERR") {
				continue
			}
			line := fmt.Sprintf("%s cannot read %s (%s);", c.nodes[i].NodeID(), p, e.sha)
			for j := range c.nodes {
				good, ok := trees[j][p]
				if !ok || good.dir || strings.HasPrefix(good.sha, "ERR") {
					continue
				}
				line += fmt.Sprintf(" %s reads it (%d bytes); chunks:", c.nodes[j].NodeID(), good.size)
				for off := 0; off < len(good.data) && good.size > faultInlineMax; off += faultChunkSize {
					id := chunk.Sum(good.data[off:min(off+faultChunkSize, len(good.data))]).String()
					var on []string
					for _, n := range c.nodes {
						if _, err := os.Stat(filepath.Join(n.NodeDir(), "chunks", id[0:2], id[2:4], id)); err == nil {
							on = append(on, n.NodeID())
						}
					}
					line += fmt.Sprintf(" %.12s on %v;", id, on)
				}
				break
			}
			out = append(out, line)
		}
	}
	return out
}
