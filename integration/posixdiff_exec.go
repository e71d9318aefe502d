package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The step language of the POSIX differential tests (posixdiff.go): one
// Step is one syscall with its arguments, run relative to the case's
// directory; its Result holds what a program can observe.

// Step is one syscall. Paths are relative to the case directory; FD names
// a slot of the case's descriptor table (open puts its fd there).
type Step struct {
	Op    string   `json:"op"`
	Path  string   `json:"path,omitempty"`
	Path2 string   `json:"path2,omitempty"`
	Flags int      `json:"flags,omitempty"`
	Mode  uint32   `json:"mode,omitempty"`
	UID   int      `json:"uid,omitempty"`
	GID   int      `json:"gid,omitempty"`
	Off   int64    `json:"off,omitempty"`
	Size  int64    `json:"size,omitempty"`
	Data  string   `json:"data,omitempty"`
	FD    int      `json:"fd,omitempty"`
	Dev   uint64   `json:"dev,omitempty"`
	Times []int64  `json:"times,omitempty"` // utimens: atime, mtime (ns, or UTIME_NOW/UTIME_OMIT)
	Watch []string `json:"watch,omitempty"` // lstat these after the step
}

// Result is what a step returned. Times are raw here; the comparison
// looks only at how they are ordered (posixdiff.go).
type Result struct {
	Ret   int64    `json:"ret"`
	Errno string   `json:"errno,omitempty"`
	Data  string   `json:"data,omitempty"`
	Stat  *Stat    `json:"stat,omitempty"`
	Watch []*Stat  `json:"watch,omitempty"` // nil entry: lstat failed
	Names []string `json:"names,omitempty"` // readdir: "name type"
}

// Stat is the part of struct stat the tests compare (blocks and the size
// of directories are chunk- and filesystem-specific, docs/posix.md).
type Stat struct {
	Type  string `json:"type"`
	Perm  uint32 `json:"perm"`
	Nlink uint64 `json:"nlink"`
	UID   uint32 `json:"uid"`
	GID   uint32 `json:"gid"`
	Size  int64  `json:"size"`
	Rdev  uint64 `json:"rdev"`
	Atime int64  `json:"atime"`
	Mtime int64  `json:"mtime"`
	Ctime int64  `json:"ctime"`
	Ino   uint64 `json:"ino"` // not compared: tells the timeline when a name names another inode
}

func statOf(st *unix.Stat_t) *Stat {
	s := &Stat{Type: typeName(st.Mode), Perm: st.Mode & 0o7777, Nlink: st.Nlink, UID: st.Uid, GID: st.Gid,
		Size: st.Size, Rdev: st.Rdev, Atime: st.Atim.Nano(), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: st.Ino}
	if s.Type == "dir" {
		s.Size = 0 // tmpfs counts entries, ext4 and clusterf blocks
	}
	return s
}

func typeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "file"
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "chr"
	case unix.S_IFBLK:
		return "blk"
	}
	return fmt.Sprintf("type-%o", mode&unix.S_IFMT)
}

// execCase runs the steps of one case phase in dir; open descriptors are
// closed at the end.
func execCase(dir string, umask int, steps []Step) []Result {
	unix.Umask(umask)
	out := make([]Result, len(steps))
	if err := os.Chdir(dir); err != nil {
		for i := range out {
			out[i] = Result{Ret: -1, Errno: "chdir: " + errName(err)}
		}
		return out
	}
	fds := map[int]int{}
	known := map[string]bool{".": true}
	for i, s := range steps {
		switch s.Op {
		case "unlink", "rmdir", "link", "rename":
			nextCoarseTick()
		}
		out[i] = execStep(s, fds)
		for _, p := range []string{s.Path, s.Path2} {
			for ; p != "" && p != "." && len(p) < 300 && !known[p]; p = filepath.Dir(p) {
				known[p] = true
			}
		}
		for _, w := range s.Watch {
			var st unix.Stat_t
			if err := unix.Lstat(w, &st); err != nil {
				out[i].Watch = append(out[i].Watch, nil)
			} else {
				out[i].Watch = append(out[i].Watch, statOf(&st))
			}
		}
		queryTimes(known, fds)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	return out
}

// queryTimes stats every path the case named and every open descriptor,
// discarding the results. tmpfs keeps times at the coarse clock's
// granularity (a few ms) unless they were read since the last change
// (multigrain timestamps), so without this two changes in a row could
// leave a time unchanged on tmpfs and advanced on clusterf: after a stat
// every change moves the times on both.
func queryTimes(known map[string]bool, fds map[int]int) {
	var st unix.Stat_t
	for p := range known {
		unix.Lstat(p, &st)
		unix.Stat(p, &st)
	}
	for _, fd := range fds {
		unix.Fstat(fd, &st)
	}
}

// nextCoarseTick waits for the coarse clock to tick (a few ms at most).
// tmpfs sets a directory's times on unlink, rmdir and link from the
// coarse time of the other inode, which can equal the directory's own
// fine-grained time of an earlier change in the same tick: the times
// would not move on tmpfs, only on clusterf.
func nextCoarseTick() {
	var t0, t unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME_COARSE, &t0)
	for t = t0; t == t0; unix.ClockGettime(unix.CLOCK_REALTIME_COARSE, &t) {
		time.Sleep(200 * time.Microsecond)
	}
}

func errName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
		return fmt.Sprintf("errno-%d", int(errno))
	}
	return err.Error()
}

func result(ret int64, err error) Result {
	if err != nil {
		return Result{Ret: -1, Errno: errName(err)}
	}
	return Result{Ret: ret}
}

func fdOf(fds map[int]int, slot int) int {
	if fd, ok := fds[slot]; ok {
		return fd
	}
	return -1 // EBADF
}

// execStep runs one step.
func execStep(s Step, fds map[int]int) Result {
	if r, ok := execPathStep(s); ok {
		return r
	}
	if r, ok := execFDStep(s, fds); ok {
		return r
	}
	return Result{Ret: -1, Errno: "unknown op " + s.Op}
}

// execPathStep runs the steps that name paths.
func execPathStep(s Step) (Result, bool) {
	const cwd = unix.AT_FDCWD
	switch s.Op {
	case "mkdir":
		return result(0, unix.Mkdirat(cwd, s.Path, s.Mode)), true
	case "mknod":
		return result(0, unix.Mknodat(cwd, s.Path, s.Mode, int(s.Dev))), true
	case "symlink":
		return result(0, unix.Symlinkat(s.Path2, cwd, s.Path)), true
	case "link":
		return result(0, unix.Linkat(cwd, s.Path, cwd, s.Path2, s.Flags)), true
	case "unlink":
		return result(0, unix.Unlinkat(cwd, s.Path, 0)), true
	case "rmdir":
		return result(0, unix.Unlinkat(cwd, s.Path, unix.AT_REMOVEDIR)), true
	case "rename":
		return result(0, unix.Renameat2(cwd, s.Path, cwd, s.Path2, uint(s.Flags))), true
	case "chmod":
		return result(0, unix.Fchmodat(cwd, s.Path, s.Mode, 0)), true
	case "chown":
		return result(0, unix.Fchownat(cwd, s.Path, s.UID, s.GID, s.Flags)), true
	case "truncate":
		return result(0, unix.Truncate(s.Path, s.Size)), true
	case "utimens":
		return result(0, unix.UtimesNanoAt(cwd, s.Path, timespecs(s.Times), s.Flags)), true
	case "stat", "lstat":
		var st unix.Stat_t
		flags := 0
		if s.Op == "lstat" {
			flags = unix.AT_SYMLINK_NOFOLLOW
		}
		if err := unix.Fstatat(cwd, s.Path, &st, flags); err != nil {
			return result(0, err), true
		}
		return Result{Stat: statOf(&st)}, true
	case "readlink":
		buf := make([]byte, 8192)
		n, err := unix.Readlinkat(cwd, s.Path, buf)
		if err != nil {
			return result(0, err), true
		}
		return Result{Ret: int64(n), Data: string(buf[:n])}, true
	case "access":
		return result(0, unix.Faccessat(cwd, s.Path, s.Mode, s.Flags)), true
	case "setxattr":
		return result(0, unix.Lsetxattr(s.Path, s.Path2, []byte(s.Data), s.Flags)), true
	case "getxattr":
		buf := make([]byte, 65536)
		n, err := unix.Lgetxattr(s.Path, s.Path2, buf)
		if err != nil {
			return result(0, err), true
		}
		return Result{Ret: int64(n), Data: string(buf[:n])}, true
	case "removexattr":
		return result(0, unix.Lremovexattr(s.Path, s.Path2)), true
	case "listxattr":
		return listxattr(s.Path), true
	case "readdir":
		return readdir(s.Path), true
	case "bind":
		return bindSocket(s.Path), true
	case "umask":
		return Result{Ret: int64(unix.Umask(int(s.Mode)))}, true
	}
	return Result{}, false
}

// execFDStep runs open and the steps on descriptors.
func execFDStep(s Step, fds map[int]int) (Result, bool) {
	switch s.Op {
	case "open":
		fd, err := unix.Openat(unix.AT_FDCWD, s.Path, s.Flags|unix.O_CLOEXEC, s.Mode)
		if err != nil {
			return result(0, err), true
		}
		if old, ok := fds[s.FD]; ok {
			unix.Close(old)
		}
		fds[s.FD] = fd
		return Result{}, true
	case "close":
		fd := fdOf(fds, s.FD)
		delete(fds, s.FD)
		return result(0, unix.Close(fd)), true
	case "write":
		n, err := unix.Write(fdOf(fds, s.FD), []byte(s.Data))
		return result(int64(n), err), true
	case "pwrite":
		n, err := unix.Pwrite(fdOf(fds, s.FD), []byte(s.Data), s.Off)
		return result(int64(n), err), true
	case "read":
		buf := make([]byte, s.Size)
		n, err := unix.Read(fdOf(fds, s.FD), buf)
		if err != nil {
			return result(0, err), true
		}
		return Result{Ret: int64(n), Data: string(buf[:n])}, true
	case "pread":
		buf := make([]byte, s.Size)
		n, err := unix.Pread(fdOf(fds, s.FD), buf, s.Off)
		if err != nil {
			return result(0, err), true
		}
		return Result{Ret: int64(n), Data: string(buf[:n])}, true
	case "seek":
		off, err := unix.Seek(fdOf(fds, s.FD), s.Off, s.Flags)
		return result(off, err), true
	case "ftruncate":
		return result(0, unix.Ftruncate(fdOf(fds, s.FD), s.Size)), true
	case "fchmod":
		return result(0, unix.Fchmod(fdOf(fds, s.FD), s.Mode)), true
	case "fchown":
		return result(0, unix.Fchown(fdOf(fds, s.FD), s.UID, s.GID)), true
	case "fsync":
		return result(0, unix.Fsync(fdOf(fds, s.FD))), true
	case "fstat":
		var st unix.Stat_t
		if err := unix.Fstat(fdOf(fds, s.FD), &st); err != nil {
			return result(0, err), true
		}
		return Result{Stat: statOf(&st)}, true
	case "futimens":
		return result(0, unix.UtimesNanoAt(fdOf(fds, s.FD), "", timespecs(s.Times), unix.AT_EMPTY_PATH)), true
	}
	return Result{}, false
}

func timespecs(t []int64) []unix.Timespec {
	if t == nil {
		return nil
	}
	ts := make([]unix.Timespec, 2)
	for i := range ts {
		switch t[i] {
		case unix.UTIME_NOW, unix.UTIME_OMIT:
			ts[i] = unix.Timespec{Nsec: t[i]}
		default:
			ts[i] = unix.NsecToTimespec(t[i])
		}
	}
	return ts
}

func listxattr(path string) Result {
	buf := make([]byte, 65536)
	n, err := unix.Llistxattr(path, buf)
	if err != nil {
		return result(0, err)
	}
	var names []string
	for _, nm := range strings.Split(string(buf[:n]), "\x00") {
		if strings.HasPrefix(nm, "user.") { // security.* labels are the host's
			names = append(names, nm)
		}
	}
	sort.Strings(names)
	return Result{Names: names}
}

func readdir(path string) Result {
	ents, err := os.ReadDir(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return result(0, err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name()+" "+fileModeType(e.Type()))
	}
	return Result{Names: names}
}

func fileModeType(m os.FileMode) string {
	switch {
	case m&os.ModeDir != 0:
		return "dir"
	case m&os.ModeSymlink != 0:
		return "symlink"
	case m&os.ModeNamedPipe != 0:
		return "fifo"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "chr"
	case m&os.ModeDevice != 0:
		return "blk"
	}
	return "file"
}

// bindSocket creates a UNIX-domain socket file at path (bind(2)).
func bindSocket(path string) Result {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return result(0, err)
	}
	defer unix.Close(fd)
	return result(0, unix.Bind(fd, &unix.SockaddrUnix{Name: path}))
}
