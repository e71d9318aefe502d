package fusefs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// FSType is the mount's type as /proc/mounts shows it ("fuse." + FSName).
const (
	FSName = "clusterf"
	FSType = "fuse." + FSName
)

// Options tunes a mount.
type Options struct {
	EntryTimeout    time.Duration // 0: 1s
	AttrTimeout     time.Duration // 0: 1s
	NegativeTimeout time.Duration // 0: none (a remote create must show at once)
	AllowOther      bool          // let other users access the mount (needs root or user_allow_other)
	Debug           bool          // log every FUSE request
	Logger          *slog.Logger
	Metrics         *Metrics // nil: no metrics
}

type mount struct {
	fs     *replica.FS
	log    *slog.Logger
	opts   Options
	inodes inodeTable
}

func (m *mount) setTimeouts(out *fuse.EntryOut) {
	out.SetEntryTimeout(m.opts.EntryTimeout)
	out.SetAttrTimeout(m.opts.AttrTimeout)
}

// Server is a live mount.
type Server struct {
	m   *mount
	srv *fuse.Server
	dir string
	log *slog.Logger

	stopFollow context.CancelFunc // the change-feed follower (notify.go)
	followDone chan struct{}
	stopOnce   sync.Once
}

// Mount mounts fsys at dir. A stale mount left at dir by a crashed run
// ("transport endpoint is not connected") is detected, logged and detached
// first; a live mount there is an error.
func Mount(dir string, fsys *replica.FS, o Options) (*Server, error) {
	if o.EntryTimeout == 0 {
		o.EntryTimeout = time.Second
	}
	if o.AttrTimeout == 0 {
		o.AttrTimeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	}
	if err := clearStaleMount(dir, o.Logger); err != nil {
		return nil, err
	}
	m := &mount{fs: fsys, log: o.Logger, opts: o}
	root := &node{m: m, ref: crdt.Ref{Inode: crdt.RootID}}
	neg := o.NegativeTimeout
	fo := &fs.Options{
		EntryTimeout:    &o.EntryTimeout,
		AttrTimeout:     &o.AttrTimeout,
		NegativeTimeout: &neg,
		RootStableAttr:  &fs.StableAttr{Ino: 1, Gen: 1},
		// Mode 0000 is a mode like any other (open(O_CREAT, 0) makes
		// one); without this go-fuse would show it as 0644.
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			FsName:      FSName,
			Name:        FSName,
			DirectMount: true,
			AllowOther:  o.AllowOther,
			MaxWrite:    1 << 20,
			Options:     []string{"default_permissions"},
			Debug:       o.Debug,
			Logger:      log.New(slogWriter{o.Logger}, "", 0),
		},
	}
	srv, err := fs.Mount(dir, root, fo)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	m.inodes.add(1, root)
	// A root on purpose: the change-feed follower lives as long as the
	// mount, not as long as any caller's request; stop cancels and waits.
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{m: m, srv: srv, dir: dir, log: o.Logger, stopFollow: cancel, followDone: make(chan struct{})}
	go func() {
		defer close(s.followDone)
		s.followChanges(ctx, fsys.Changes())
	}()
	return s, nil
}

// stop ends the change-feed follower and waits for it.
func (s *Server) stop() {
	s.stopOnce.Do(func() {
		s.stopFollow()
		<-s.followDone
	})
}

// Dir returns the mount point.
func (s *Server) Dir() string { return s.dir }

// Wait blocks until the mount is gone (unmounted from inside or outside).
func (s *Server) Wait() {
	s.srv.Wait()
	s.stop()
}

// Unmount unmounts, retrying while the mount is busy, and falls back to a
// lazy unmount so that the process can always exit cleanly.
func (s *Server) Unmount() error {
	defer s.stop()
	var err error
	for i := 0; i < 20; i++ {
		if err = s.srv.Unmount(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.log.Warn("mount busy, detaching it lazily", "dir", s.dir, "err", err)
	if derr := syscall.Unmount(s.dir, syscall.MNT_DETACH); derr != nil {
		return fmt.Errorf("unmount %s: %w (lazy: %v)", s.dir, err, derr)
	}
	return nil
}

// clearStaleMount detaches a dead FUSE mount at dir and refuses a live one.
func clearStaleMount(dir string, log *slog.Logger) error {
	_, statErr := os.Stat(dir)
	mounted, fstype := isMountPoint(dir)
	if statErr == nil && mounted && strings.HasPrefix(fstype, "fuse") {
		// stat may be answered from the kernel's attribute cache even when
		// the server is gone; opening the directory always asks the server.
		_, statErr = os.ReadDir(dir)
	}
	switch {
	case errors.Is(statErr, syscall.ENOTCONN):
		log.Warn("stale FUSE mount from a crashed run found; detaching it", "dir", dir)
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("mount %s: stale mount could not be detached (try `fusermount3 -uz %s`): %w", dir, dir, err)
		}
		return nil
	case statErr != nil:
		return fmt.Errorf("mount point %s: %w", dir, statErr)
	case mounted && strings.HasPrefix(fstype, "fuse"):
		return fmt.Errorf("mount point %s is already a live %s mount (is another clusterf running? unmount it with `fusermount3 -u %s`)", dir, fstype, dir)
	}
	return nil
}

// isMountPoint reports whether dir is a mount point and its fs type.
func isMountPoint(dir string) (bool, string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// id parent major:minor root mountpoint opts... - fstype source superopts
		if len(fields) < 5 || unescapeMount(fields[4]) != dir {
			continue
		}
		for i, fl := range fields {
			if fl == "-" && i+1 < len(fields) {
				return true, fields[i+1]
			}
		}
		return true, ""
	}
	return false, ""
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// slogWriter routes go-fuse's log.Logger output to slog at debug level.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimRight(string(p), "\n"), "component", "go-fuse")
	return len(p), nil
}
