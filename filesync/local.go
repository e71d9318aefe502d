package filesync

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The local side. Every path is opened relative to the root's file
// descriptor with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS: a symlink anywhere
// in a path (also one swapped in while we work) is never followed, so no
// read or write leaves the tree.

// tmpPrefix starts the names of our temporary files in the local folder.
const tmpPrefix = ".clusterf-tmp-"

// errChanged: the entry changed while it was being copied (copied again later).
var errChanged = errors.New("changed while being synced")

type localSide struct {
	root   string
	fd     int
	mu     sync.Mutex      // guards synced (workers write in parallel)
	synced map[string]bool // directories written since the last syncDirs
	root0  bool            // running as root: owners are kept
}

func openLocal(root string) (*localSide, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return &localSide{root: root, fd: fd, synced: map[string]bool{}, root0: os.Geteuid() == 0}, nil
}

func (l *localSide) close() {
	if l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}

// reopen opens the root again (rounds hold it only while they run, so the
// folder's filesystem can be unmounted between them).
func (l *localSide) reopen() error {
	l.close()
	fd, err := unix.Open(l.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: l.root, Err: err}
	}
	l.fd = fd
	return nil
}

func (l *localSide) full(rel string) string {
	if rel == "" {
		return l.root
	}
	return l.root + "/" + rel
}

func (l *localSide) pathErr(op, rel string, err error) error {
	return &os.PathError{Op: op, Path: l.full(rel), Err: err}
}

// openAt opens rel beneath the root, never through a symlink.
func (l *localSide) openAt(rel string, flags int, mode uint32) (int, error) {
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS}
	for {
		fd, err := unix.Openat2(l.fd, rel, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// dir opens a directory beneath the root.
func (l *localSide) dir(rel string) (int, error) {
	return l.openAt(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
}

// statAt describes name in directory fd (nil, nil: it does not exist).
func statAt(fd int, name string) (*entry, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT || err == unix.ENOTDIR {
			return nil, nil
		}
		return nil, err
	}
	var target string
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(fd, name, buf)
		if err != nil {
			return nil, err
		}
		target = string(buf[:n])
	}
	return localEntry(toSyscall(&st), target), nil
}

func toSyscall(st *unix.Stat_t) *syscall.Stat_t {
	return &syscall.Stat_t{Dev: st.Dev, Ino: st.Ino, Mode: st.Mode, Uid: st.Uid, Gid: st.Gid, Size: st.Size,
		Mtim: syscall.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec}}
}

// stat describes rel (nil, nil: it does not exist, or a parent is not a
// directory).
func (l *localSide) stat(rel string) (*entry, error) {
	if rel == "" {
		return statAt(l.fd, ".")
	}
	dir, name := splitRel(rel)
	fd, err := l.dir(dir)
	if err != nil {
		if err == unix.ENOENT || err == unix.ENOTDIR || err == unix.ELOOP || err == unix.EXDEV {
			return nil, nil
		}
		return nil, l.pathErr("open", dir, err)
	}
	defer unix.Close(fd)
	e, err := statAt(fd, name)
	if err != nil {
		return nil, l.pathErr("lstat", rel, err)
	}
	return e, nil
}

// list describes the entries of directory rel.
func (l *localSide) list(rel string) (map[string]*entry, error) {
	fd, err := l.dir(rel)
	if err != nil {
		return nil, l.pathErr("open", rel, err)
	}
	f := os.NewFile(uintptr(fd), l.full(rel))
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, l.pathErr("readdir", rel, err)
	}
	out := make(map[string]*entry, len(names))
	for _, name := range names {
		e, err := statAt(fd, name)
		if err != nil {
			return nil, l.pathErr("lstat", joinRel(rel, name), err)
		}
		if e != nil {
			out[name] = e
		}
	}
	return out, nil
}

// open opens file rel for reading.
func (l *localSide) open(rel string) (*os.File, error) {
	fd, err := l.openAt(rel, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, l.pathErr("open", rel, err)
	}
	return os.NewFile(uintptr(fd), l.full(rel)), nil
}

func tmpName() string {
	var b [6]byte
	rand.Read(b[:])
	return tmpPrefix + hex.EncodeToString(b[:])
}

// parentOf opens the directory holding rel, creating missing directories.
func (l *localSide) parentOf(rel string) (int, string, error) {
	dir, name := splitRel(rel)
	fd, err := l.dir(dir)
	if err == unix.ENOENT && dir != "" {
		if err = l.mkdirAll(dir); err == nil {
			fd, err = l.dir(dir)
		}
	}
	if err != nil {
		return -1, "", l.pathErr("open", dir, err)
	}
	l.touched(dir)
	return fd, name, nil
}

// mkdirAll creates directory rel and missing parents (mode 0755).
func (l *localSide) mkdirAll(rel string) error {
	dir, name := splitRel(rel)
	fd, err := l.dir(dir)
	if err == unix.ENOENT && dir != "" {
		if err = l.mkdirAll(dir); err == nil {
			fd, err = l.dir(dir)
		}
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Mkdirat(fd, name, 0o755); err != nil && err != unix.EEXIST {
		return err
	}
	l.touched(dir)
	return nil
}

func (l *localSide) touched(dir string) {
	l.mu.Lock()
	l.synced[dir] = true
	l.mu.Unlock()
}

// replaceCheck is called with what is at the target right before a
// rename over it; false aborts with errChanged.
type replaceCheck func(cur *entry) bool

// writeFile writes r to rel atomically (temp file, fsync, rename) with
// the entry's mode, owner and mtime; it returns the new local entry.
func (l *localSide) writeFile(rel string, r io.Reader, want *entry, ok replaceCheck) (*entry, error) {
	pfd, name, err := l.parentOf(rel)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	tmp := tmpName()
	fd, err := unix.Openat(pfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, l.pathErr("create", joinRel(dirOf(rel), tmp), err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	fail := func(err error) (*entry, error) {
		f.Close()
		unix.Unlinkat(pfd, tmp, 0)
		return nil, err
	}
	if _, err := io.Copy(f, r); err != nil {
		return fail(err)
	}
	if err := l.finish(fd, want); err != nil {
		return fail(l.pathErr("set attributes", rel, err))
	}
	if err := f.Sync(); err != nil {
		return fail(l.pathErr("fsync", rel, err))
	}
	if err := f.Close(); err != nil {
		unix.Unlinkat(pfd, tmp, 0)
		return nil, l.pathErr("close", rel, err)
	}
	return l.commit(pfd, tmp, rel, name, ok)
}

// finish sets owner, mode and times of a new file.
func (l *localSide) finish(fd int, want *entry) error {
	if l.root0 {
		if err := unix.Fchown(fd, int(want.uid), int(want.gid)); err != nil {
			return err
		}
	}
	if err := unix.Fchmod(fd, want.mode); err != nil {
		return err
	}
	ts := unix.NsecToTimespec(want.mtime)
	return unix.UtimesNanoAt(fd, "", []unix.Timespec{ts, ts}, unix.AT_EMPTY_PATH)
}

// commit renames tmp over name after checking what it replaces.
func (l *localSide) commit(pfd int, tmp, rel, name string, ok replaceCheck) (*entry, error) {
	cur, err := statAt(pfd, name)
	if err != nil {
		unix.Unlinkat(pfd, tmp, 0)
		return nil, l.pathErr("lstat", rel, err)
	}
	if ok != nil && !ok(cur) {
		unix.Unlinkat(pfd, tmp, 0)
		return nil, fmt.Errorf("%s: %w", l.full(rel), errChanged)
	}
	if cur != nil && cur.kind == kindDir {
		unix.Unlinkat(pfd, tmp, 0)
		return nil, l.pathErr("replace", rel, unix.EISDIR)
	}
	if err := unix.Renameat(pfd, tmp, pfd, name); err != nil {
		unix.Unlinkat(pfd, tmp, 0)
		return nil, l.pathErr("rename", rel, err)
	}
	e, err := statAt(pfd, name)
	if err == nil && e == nil {
		err = unix.ENOENT
	}
	if err != nil {
		return nil, l.pathErr("lstat", rel, err)
	}
	return e, nil
}

// symlink makes rel a symlink to target (atomically replacing a file or
// symlink there).
func (l *localSide) symlink(rel, target string, want *entry, ok replaceCheck) (*entry, error) {
	pfd, name, err := l.parentOf(rel)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	tmp := tmpName()
	if err := unix.Symlinkat(target, pfd, tmp); err != nil {
		return nil, l.pathErr("symlink", rel, err)
	}
	if l.root0 {
		unix.Fchownat(pfd, tmp, int(want.uid), int(want.gid), unix.AT_SYMLINK_NOFOLLOW)
	}
	return l.commit(pfd, tmp, rel, name, ok)
}

// mkdir creates directory rel (parents too) with mode; an existing
// directory gets the mode.
func (l *localSide) mkdir(rel string, want *entry) (*entry, error) {
	pfd, name, err := l.parentOf(rel)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, name, 0o700); err != nil && err != unix.EEXIST {
		return nil, l.pathErr("mkdir", rel, err)
	}
	fd, err := l.dir(rel)
	if err != nil {
		return nil, l.pathErr("open", rel, err)
	}
	defer unix.Close(fd)
	if l.root0 {
		unix.Fchown(fd, int(want.uid), int(want.gid))
	}
	if err := unix.Fchmod(fd, want.mode); err != nil {
		return nil, l.pathErr("chmod", rel, err)
	}
	return statAt(pfd, name)
}

// setAttr changes the mode (files, directories) and mtime (files) of rel.
func (l *localSide) setAttr(rel string, want *entry) (*entry, error) {
	fd, err := l.openAt(rel, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, l.pathErr("open", rel, err)
	}
	defer unix.Close(fd)
	proc := fmt.Sprintf("/proc/self/fd/%d", fd) // chmod and utimes of an O_PATH fd
	if err := unix.Chmod(proc, want.mode); err != nil {
		return nil, l.pathErr("chmod", rel, err)
	}
	if want.kind == kindFile {
		ts := unix.NsecToTimespec(want.mtime)
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, proc, []unix.Timespec{ts, ts}, 0); err != nil {
			return nil, l.pathErr("utimes", rel, err)
		}
	}
	return l.stat(rel)
}

// rename moves old to new (never over an existing entry).
func (l *localSide) rename(old, new string) error {
	ofd, oname, err := l.parentOf(old)
	if err != nil {
		return err
	}
	defer unix.Close(ofd)
	nfd, nname, err := l.parentOf(new)
	if err != nil {
		return err
	}
	defer unix.Close(nfd)
	if err := unix.Renameat2(ofd, oname, nfd, nname, unix.RENAME_NOREPLACE); err != nil {
		return l.pathErr("rename", old, err)
	}
	return nil
}

// remove deletes file, symlink or empty directory rel if it is still
// what ok accepts.
func (l *localSide) remove(rel string, ok replaceCheck) error {
	pfd, name, err := l.parentOf(rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	cur, err := statAt(pfd, name)
	if err != nil || cur == nil {
		return err
	}
	if ok != nil && !ok(cur) {
		return fmt.Errorf("%s: %w", l.full(rel), errChanged)
	}
	flags := 0
	if cur.kind == kindDir {
		flags = unix.AT_REMOVEDIR
	}
	if err := unix.Unlinkat(pfd, name, flags); err != nil && err != unix.ENOENT {
		return l.pathErr("remove", rel, err)
	}
	return nil
}

// syncDirs fsyncs the directories written since the last call, so the
// renames in them are durable before the base records them.
func (l *localSide) syncDirs() error {
	l.mu.Lock()
	dirs := l.synced
	l.synced = map[string]bool{}
	l.mu.Unlock()
	var errs []error
	for rel := range dirs {
		fd, err := l.dir(rel)
		if err != nil {
			continue // removed meanwhile
		}
		if err := unix.Fsync(fd); err != nil {
			errs = append(errs, l.pathErr("fsync", rel, err))
		}
		unix.Close(fd)
	}
	return errors.Join(errs...)
}

// removeTemps deletes our temporaries left in directory rel by a crash.
func (l *localSide) removeTemps(rel string, names []string) {
	fd, err := l.dir(rel)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	for _, n := range names {
		if strings.HasPrefix(n, tmpPrefix) {
			unix.Unlinkat(fd, n, 0)
		}
	}
}

func dirOf(rel string) string { d, _ := splitRel(rel); return d }
