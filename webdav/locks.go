package webdav

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path"
	"strings"
	"sync"
	"time"

	xwebdav "golang.org/x/net/webdav"
)

// lockSystem is an in-memory xwebdav.LockSystem that, unlike
// xwebdav.NewMemLS, supports shared write locks (created by the handler's
// own LOCK code, see sharedlock.go) and evaluates the If header fully:
// "Not" conditions and entity tags ([etag]) count, so a conditional PUT
// with a stale ETag fails with 412. Locks are per node and lost on
// restart, which RFC 4918 allows (a client then gets 412 and locks again).
type lockSystem struct {
	fs *FileSystem

	mu    sync.Mutex
	locks map[string]*lockEntry // by token
}

type lockEntry struct {
	token   string
	d       xwebdav.LockDetails // Root slash-cleaned
	shared  bool
	expires time.Time // zero: never
}

func newLockSystem(fs *FileSystem) *lockSystem {
	return &lockSystem{fs: fs, locks: make(map[string]*lockEntry)}
}

func slashClean(name string) string { return path.Clean("/" + name) }

// covers reports whether lock e applies to name.
func (e *lockEntry) covers(name string) bool {
	if name == e.d.Root {
		return true
	}
	return !e.d.ZeroDepth && (e.d.Root == "/" || strings.HasPrefix(name, e.d.Root+"/"))
}

// overlaps reports whether e and a lock with details d and root cover a
// common resource.
func (e *lockEntry) overlaps(o *lockEntry) bool {
	return e.covers(o.d.Root) || o.covers(e.d.Root)
}

func (ls *lockSystem) expire(now time.Time) {
	for t, e := range ls.locks {
		if !e.expires.IsZero() && now.After(e.expires) {
			delete(ls.locks, t)
		}
	}
}

func expiry(now time.Time, d time.Duration) time.Time {
	if d < 0 {
		return time.Time{}
	}
	return now.Add(d)
}

// create adds a lock unless an overlapping one conflicts: an exclusive
// lock conflicts with every lock, a shared one with exclusive ones.
func (ls *lockSystem) create(now time.Time, d xwebdav.LockDetails, shared bool) (string, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	d.Root = slashClean(d.Root)
	var rnd [16]byte
	rand.Read(rnd[:])
	e := &lockEntry{token: "opaquelocktoken:" + hex.EncodeToString(rnd[:]), d: d, shared: shared, expires: expiry(now, d.Duration)}
	for _, o := range ls.locks {
		if o.overlaps(e) && !(shared && o.shared) {
			return "", xwebdav.ErrLocked
		}
	}
	ls.locks[e.token] = e
	return e.token, nil
}

// Create creates an exclusive lock.
func (ls *lockSystem) Create(now time.Time, d xwebdav.LockDetails) (string, error) {
	return ls.create(now, d, false)
}

// Refresh extends a lock.
func (ls *lockSystem) Refresh(now time.Time, token string, duration time.Duration) (xwebdav.LockDetails, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	e := ls.locks[token]
	if e == nil {
		return xwebdav.LockDetails{}, xwebdav.ErrNoSuchLock
	}
	e.d.Duration = duration
	e.expires = expiry(now, duration)
	return e.d, nil
}

// Unlock removes a lock.
func (ls *lockSystem) Unlock(now time.Time, token string) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	if ls.locks[token] == nil {
		return xwebdav.ErrNoSuchLock
	}
	delete(ls.locks, token)
	return nil
}

// Confirm reports whether one list of If header conditions holds for the
// request's resources name0 and name1 (either may be empty) and the locks
// on them are satisfied. The list holds when every condition does: a lock
// token when it is a lock on one of the names, an entity tag when it is
// the current ETag of the list's resource (name0, else name1), each
// negated by Not. The locks are satisfied when every locked name is
// covered by a lock whose token the list submits.
func (ls *lockSystem) Confirm(now time.Time, name0, name1 string, conditions ...xwebdav.Condition) (func(), error) {
	var names []string
	for _, n := range []string{name0, name1} {
		if n != "" {
			names = append(names, slashClean(n))
		}
	}
	for _, c := range conditions {
		if c.ETag == "" || len(names) == 0 {
			continue
		}
		if (ls.etag(names[0]) == c.ETag) == c.Not {
			return nil, xwebdav.ErrConfirmationFailed
		}
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	for _, c := range conditions {
		if c.Token == "" {
			continue
		}
		e := ls.locks[c.Token]
		onName := false
		for _, n := range names {
			onName = onName || e != nil && e.covers(n)
		}
		if onName == c.Not {
			return nil, xwebdav.ErrConfirmationFailed
		}
	}
	for _, n := range names {
		locked, held := false, false
		for _, e := range ls.locks {
			if !e.covers(n) {
				continue
			}
			locked = true
			for _, c := range conditions {
				held = held || !c.Not && c.Token == e.token
			}
		}
		if locked && !held {
			// Another list may submit the token: x/net/webdav tries
			// them all and answers 412 when none holds.
			return nil, xwebdav.ErrConfirmationFailed
		}
	}
	return func() {}, nil
}

// etag is the current ETag of name, "" if it does not exist.
func (ls *lockSystem) etag(name string) string {
	fi, err := ls.fs.Stat(context.Background(), name)
	if err != nil {
		return ""
	}
	tag, _ := fi.(*fileInfo).ETag(context.Background())
	return tag
}
