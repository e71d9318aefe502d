package media

import (
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/atrest"
)

// cache is the node-local cache of segments, init segments, thumbnails
// and keyframe indexes: one flat directory, one file per entry, named by
// the source's version key (so an edited file never hits an old entry),
// least recently used first out. Its size — every file's size rounded up
// to whole 4 KiB blocks, in-flight writes included — never exceeds cap:
// room is made (evicting) before a write starts, and an entry larger
// than the cap is not cached. It also leaves minFree bytes free on the
// disk (the node's chunks come first): a write that would go below is
// skipped.
type cache struct {
	dir   string
	cap   int64
	log   *slog.Logger
	crypt cacheCrypt // at-rest encryption of names and bytes (cache_io.go)

	mu      sync.Mutex
	used    int64
	lru     *list.List // front: most recently used; values *entry
	idx     map[string]*list.Element
	evicted int64
	hits    int64
	misses  int64
}

type entry struct {
	name    string
	size    int64 // accounted bytes (whole blocks)
	writing bool  // reserved, being written
}

// minFree is the free disk space the cache never takes.
const minFree = 512 << 20

const blockSize = 4096

func blocks(n int64) int64 { return (n + blockSize - 1) / blockSize * blockSize }

// openCache opens (creating) dir, accounts what is there (oldest
// modification first out) and evicts down to cap. With keys (non-nil)
// entries are sealed and their file names keyed.
func openCache(dir string, cap int64, log *slog.Logger, keys *atrest.Keys) (*cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("media cache: %w", err)
	}
	c := &cache{dir: dir, cap: cap, log: log, crypt: newCacheCrypt(keys), lru: list.New(), idx: map[string]*list.Element{}}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("media cache: %w", err)
	}
	type found struct {
		name string
		size int64
		mod  time.Time
	}
	var fs []found
	for _, de := range des {
		info, err := de.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if strings.HasSuffix(de.Name(), tmpSuffix) { // a write cut short by a crash
			os.Remove(filepath.Join(dir, de.Name()))
			continue
		}
		fs = append(fs, found{de.Name(), blocks(info.Size()), info.ModTime()})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].mod.Before(fs[j].mod) })
	for _, f := range fs { // oldest first, so the newest end up in front
		c.idx[f.name] = c.lru.PushFront(&entry{name: f.name, size: f.size})
		c.used += f.size
	}
	c.mu.Lock()
	c.evictLocked(0)
	c.mu.Unlock()
	return c, nil
}

// get returns a cached entry's bytes and marks it recently used.
func (c *cache) get(name string) ([]byte, bool) {
	name = c.crypt.fileName(name)
	c.mu.Lock()
	el, ok := c.idx[name]
	if !ok || el.Value.(*entry).writing {
		c.misses++
		c.mu.Unlock()
		return nil, false
	}
	c.lru.MoveToFront(el)
	c.hits++
	c.mu.Unlock()
	b, err := c.crypt.readFile(filepath.Join(c.dir, name))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("media cache read failed", "entry", name, "err", err)
		}
		c.dropFile(name)
		return nil, false
	}
	now := time.Now()
	_ = os.Chtimes(filepath.Join(c.dir, name), now, now) // the order survives a restart
	return b, true
}

// has reports whether name is cached (without reading it).
func (c *cache) has(name string) bool {
	name = c.crypt.fileName(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.idx[name]
	return ok && !el.Value.(*entry).writing
}

// put stores data under name, evicting least recently used entries first.
// It reports whether the entry was stored.
func (c *cache) put(name string, data []byte) bool {
	name = c.crypt.fileName(name)
	size := c.entrySize(len(data))
	if size > c.cap {
		return false
	}
	if !c.diskHasRoom(size) {
		c.log.Debug("media cache: disk nearly full, not caching", "entry", name)
		return false
	}
	c.mu.Lock()
	if old, ok := c.idx[name]; ok {
		if old.Value.(*entry).writing {
			c.mu.Unlock()
			return false // someone else is writing it
		}
		c.removeLocked(old)
	}
	c.evictLocked(size)
	if c.used+size > c.cap { // the rest is being written right now
		c.mu.Unlock()
		return false
	}
	e := &entry{name: name, size: size, writing: true}
	el := c.lru.PushFront(e)
	c.idx[name] = el
	c.used += size
	c.mu.Unlock()

	err := c.crypt.writeFile(filepath.Join(c.dir, name), data)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idx[name] != el { // dropped while writing
		if err == nil {
			os.Remove(filepath.Join(c.dir, name))
		}
		return false
	}
	if err != nil {
		c.log.Warn("media cache write failed", "entry", name, "err", err)
		c.removeLocked(el)
		return false
	}
	e.writing = false
	return true
}

// evictLocked removes least recently used entries until need more bytes fit.
func (c *cache) evictLocked(need int64) {
	for el := c.lru.Back(); el != nil && c.used+need > c.cap; {
		prev := el.Prev()
		if !el.Value.(*entry).writing {
			c.removeLocked(el)
			c.evicted++
		}
		el = prev
	}
}

func (c *cache) removeLocked(el *list.Element) {
	e := el.Value.(*entry)
	c.lru.Remove(el)
	delete(c.idx, e.name)
	c.used -= e.size
	if !e.writing {
		if err := os.Remove(filepath.Join(c.dir, e.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("media cache remove failed", "entry", e.name, "err", err)
		}
	}
}

func (c *cache) drop(name string) { c.dropFile(c.crypt.fileName(name)) }

// dropFile removes the entry stored in file (a name on disk).
func (c *cache) dropFile(file string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.idx[file]; ok && !el.Value.(*entry).writing {
		c.removeLocked(el)
	}
}

// entrySize is what an entry of n bytes is accounted: its file's size
// (sealing adds atrest.Overhead) in whole blocks.
func (c *cache) entrySize(n int) int64 { return blocks(int64(n + c.crypt.overhead())) }

// usage returns the accounted bytes and the number of entries.
func (c *cache) usage() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, len(c.idx)
}

// diskHasRoom reports whether writing n bytes leaves minFree free.
func (c *cache) diskHasRoom(n int64) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(c.dir, &st); err != nil {
		return true
	}
	return int64(st.Bavail)*int64(st.Bsize)-n >= minFree
}

// evictions returns how many entries were evicted.
func (c *cache) evictions() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evicted
}
