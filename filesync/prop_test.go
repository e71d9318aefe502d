package filesync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/clusterf/clusterf/replica"
)

// TestPropBothWaysConverges: any sequence of changes on both sides with
// bidirectional passes in between ends, after one more pass, with the two
// sides equal; a further pass copies, renames, deletes and conflicts
// nothing.
func TestPropBothWaysConverges(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		e := newEnvQuiet(t)
		ctx := context.Background()
		names := []string{"a", "b", "d/c", "d/e"}
		pick := rapid.SampledFrom(names)
		gen := 0
		sync := func() {
			if _, err := e.once(Both, "/p", all); err != nil {
				rt.Fatalf("sync: %v", err)
			}
		}
		sync()
		steps := rapid.IntRange(1, 12).Draw(rt, "steps")
		for range steps {
			gen++
			content := fmt.Sprintf("v%d", gen)
			name := pick.Draw(rt, "name")
			switch rapid.IntRange(0, 4).Draw(rt, "op") {
			case 0:
				p := filepath.Join(e.local, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if st, err := os.Lstat(p); err == nil && st.IsDir() {
					continue
				}
				os.WriteFile(p, []byte(content), 0o644)
				mt := time.Unix(1700000000+int64(gen), 0)
				os.Chtimes(p, mt, mt)
			case 1:
				os.Remove(filepath.Join(e.local, name))
			case 2:
				if _, err := e.fs.PutFile(ctx, "/p/"+name, strings.NewReader(content), replica.PutOptions{}); err != nil {
					continue // a directory there
				}
			case 3:
				e.fs.RemoveAll(ctx, "/p/"+name)
			case 4:
				sync()
			}
		}
		sync()
		lt, ct := localTree(t, e.local), e.clusterTree("/p")
		if d := diffTrees(lt, ct); d != "" {
			rt.Fatalf("sides differ after the last pass: %s\nlocal %v\ncluster %v", d, lt, ct)
		}
		st, err := e.once(Both, "/p", all)
		if err != nil || st.BytesDone != 0 || st.Conflicts != 0 || st.Deleted != 0 || st.Renamed != 0 {
			rt.Fatalf("a pass over equal sides did something: %v %+v", err, st)
		}
	})
}

// all lifts the delete safety (tested on its own): the generated changes
// empty small folders.
func all(c *PairConfig) { c.MaxDelete = MaxDelete{Percent: 100} }

// newEnvQuiet is newEnv without the debug log (rapid runs many).
func newEnvQuiet(t *testing.T) *env {
	t.Helper()
	fs := replica.TestFS(t, 64<<10)
	dir, err := os.MkdirTemp("", "filesync-prop-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &env{t: t, fs: fs, local: filepath.Join(dir, "local"), dir: filepath.Join(dir, "state")}
	os.MkdirAll(e.local, 0o755)
	e.m = NewManager(Options{FS: fs, Dir: e.dir, Self: "n1"})
	return e
}
