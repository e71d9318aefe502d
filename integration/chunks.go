package integration

import (
	"io/fs"
	"path/filepath"
	"strings"
)

// ChunkCopies counts, for every chunk stored under any of the node
// directories (DataDir/NodeID), how many of them store it: chunk files are
// named by their 64-hex-digit id under chunks/ (temporaries have a dot).
// What is on disk is the truth the replication tests check.
func ChunkCopies(nodeDirs ...string) map[string]int {
	copies := map[string]int{}
	for _, dir := range nodeDirs {
		filepath.WalkDir(filepath.Join(dir, "chunks"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && len(d.Name()) == 64 && !strings.Contains(d.Name(), ".") {
				copies[d.Name()]++
			}
			return nil
		})
	}
	return copies
}
