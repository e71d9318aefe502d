package filesync

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/clusterf/clusterf/replica"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// IgnoreFile is the name of the ignore file in the local folder's root
// (gitignore syntax, parsed by go-git's gitignore package). It is itself
// never synced.
const IgnoreFile = ".clusterfignore"

// excluder decides which paths a pair leaves alone, on both sides.
type excluder struct {
	globs   []string
	matcher gitignore.Matcher
}

// newExcluder builds the excluder of a pair: its patterns and the local
// root's .clusterfignore (read now; a missing file is no error).
func newExcluder(globs []string, localRoot string) (*excluder, error) {
	x := &excluder{globs: globs}
	b, err := os.ReadFile(filepath.Join(localRoot, IgnoreFile))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var ps []gitignore.Pattern
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, nil))
	}
	if len(ps) > 0 {
		x.matcher = gitignore.NewMatcher(ps)
	}
	return x, nil
}

// internal reports names that are never synced: our temporaries, the
// core's upload temporaries and the ignore file.
func internal(rel string) bool {
	_, name := splitRel(rel)
	return strings.HasPrefix(name, tmpPrefix) || strings.HasPrefix(name, replica.UploadPrefix) || rel == IgnoreFile
}

// excluded reports whether rel (a directory if dir) is left out. Callers
// check parents first (a walk never descends into an excluded directory).
func (x *excluder) excluded(rel string, dir bool) bool {
	if rel == "" {
		return false
	}
	if internal(rel) {
		return true
	}
	_, name := splitRel(rel)
	for _, g := range x.globs {
		target := name
		if strings.Contains(g, "/") {
			target = rel
		}
		if ok, _ := path.Match(strings.Trim(g, "/"), target); ok {
			return true
		}
	}
	return x.matcher != nil && x.matcher.Match(strings.Split(rel, "/"), dir)
}

// excludedPath reports whether rel or any of its parents is excluded.
func (x *excluder) excludedPath(rel string, dir bool) bool {
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		if x.excluded(strings.Join(parts[:i], "/"), true) {
			return true
		}
	}
	return x.excluded(rel, dir)
}

// ignoreStamp describes the local root's ignore file ("" if there is none
// or it cannot be read), to notice when it changes.
func ignoreStamp(localRoot string) string {
	fi, err := os.Stat(filepath.Join(localRoot, IgnoreFile))
	if err != nil {
		return ""
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprint(st.Dev, st.Ino, st.Size, st.Mtim.Nano(), st.Ctim.Nano())
}

// ignoreChanged reads the ignore file again when it changed since it was
// last read and reports whether it did (a round then scans in full). One
// that cannot be read keeps the patterns read before, and says so.
func (e *engine) ignoreChanged() bool {
	now := ignoreStamp(e.cfg.Local)
	if now == e.ignore {
		return false
	}
	x, err := newExcluder(e.cfg.Excludes, e.cfg.Local)
	if err != nil {
		e.stat.setError(IgnoreFile, fmt.Errorf("read again: %w; the patterns read before still apply", err))
		return false
	}
	e.stat.clearError(IgnoreFile)
	e.ignore, e.ex = now, x
	e.log.Info("sync: " + IgnoreFile + " changed; its patterns apply from now on")
	return true
}
