package integration

// The kernel's mount table as the tests see it (/proc/self/mountinfo), and
// the mounts the harness made, so leaks can be reported.

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// MountFSType returns the fstype of the topmost mount at dir, or "" when
// nothing is mounted there.
func MountFSType(dir string) string {
	ms, err := readMountinfo()
	if err != nil {
		return ""
	}
	dir = filepath.Clean(dir)
	fstype := ""
	for _, m := range ms {
		if m.mountpoint == dir {
			fstype = m.fstype
		}
	}
	return fstype
}

// MountCount returns how many mounts are stacked on dir.
func MountCount(dir string) int {
	ms, _ := readMountinfo()
	dir = filepath.Clean(dir)
	c := 0
	for _, m := range ms {
		if m.mountpoint == dir {
			c++
		}
	}
	return c
}

type mountEntry struct {
	id           int
	major, minor uint32 // st_dev of the mounted filesystem
	mountpoint   string
	fstype       string
}

func readMountinfo() ([]mountEntry, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var ms []mountEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint opts [optional...] - fstype source superopts
		f := strings.Fields(sc.Text())
		if len(f) < 7 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) {
			continue
		}
		id, _ := strconv.Atoi(f[0])
		var major, minor uint32
		if ma, mi, ok := strings.Cut(f[2], ":"); ok {
			a, _ := strconv.ParseUint(ma, 10, 32)
			b, _ := strconv.ParseUint(mi, 10, 32)
			major, minor = uint32(a), uint32(b)
		}
		ms = append(ms, mountEntry{id: id, major: major, minor: minor, mountpoint: unescapeMountinfo(f[4]), fstype: f[sep+1]})
	}
	return ms, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 etc.) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// topMount returns the last (topmost) mount at dir.
func topMount(t testing.TB, dir string) (mountEntry, bool) {
	t.Helper()
	ms, err := readMountinfo()
	if err != nil {
		t.Fatalf("read mountinfo: %v", err)
	}
	dir = filepath.Clean(dir)
	var top mountEntry
	found := false
	for _, m := range ms {
		if m.mountpoint == dir {
			top, found = m, true
		}
	}
	return top, found
}

var (
	registryMu sync.Mutex
	registry   = map[string]bool{}
)

func registerMount(dir string) {
	registryMu.Lock()
	registry[filepath.Clean(dir)] = true
	registryMu.Unlock()
}

// LeakedMounts returns the mountpoints used by nodes of this process that are
// still mounted, and lazily unmounts them. Call it from TestMain after m.Run.
func LeakedMounts() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	var leaked []string
	for dir := range registry {
		if IsMounted(dir) {
			leaked = append(leaked, dir)
			ForceUnmount(dir)
		}
	}
	return leaked
}
