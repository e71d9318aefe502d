package integration

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Step constructors for the differential cases.

func sOpen(fd int, p string, flags int, mode uint32) Step {
	return Step{Op: "open", FD: fd, Path: p, Flags: flags, Mode: mode}
}
func sClose(fd int) Step                   { return Step{Op: "close", FD: fd} }
func sWrite(fd int, data string) Step      { return Step{Op: "write", FD: fd, Data: data} }
func sPread(fd int, n, off int64) Step     { return Step{Op: "pread", FD: fd, Size: n, Off: off} }
func sFstat(fd int) Step                   { return Step{Op: "fstat", FD: fd} }
func sFtrunc(fd int, size int64) Step      { return Step{Op: "ftruncate", FD: fd, Size: size} }
func sFchmod(fd int, mode uint32) Step     { return Step{Op: "fchmod", FD: fd, Mode: mode} }
func sFchown(fd, uid, gid int) Step        { return Step{Op: "fchown", FD: fd, UID: uid, GID: gid} }
func sFsync(fd int) Step                   { return Step{Op: "fsync", FD: fd} }
func sSeek(fd int, off int64, wh int) Step { return Step{Op: "seek", FD: fd, Off: off, Flags: wh} }
func sPwrite(fd int, data string, off int64) Step {
	return Step{Op: "pwrite", FD: fd, Data: data, Off: off}
}

// sPwriteN writes n bytes of 'z' at off.
func sPwriteN(fd int, n, off int64) Step {
	return Step{Op: "pwrite", FD: fd, Data: strings.Repeat("z", int(n)), Off: off}
}
func sFutimens(fd int, times ...int64) Step { return Step{Op: "futimens", FD: fd, Times: times} }

func sMkdir(p string, mode uint32) Step { return Step{Op: "mkdir", Path: p, Mode: mode} }
func sMknod(p string, mode uint32, dev uint64) Step {
	return Step{Op: "mknod", Path: p, Mode: mode, Dev: dev}
}
func sFifo(p string) Step            { return sMknod(p, unix.S_IFIFO|0o644, 0) }
func sSymlink(target, p string) Step { return Step{Op: "symlink", Path: p, Path2: target} }
func sLink(from, to string, flags int) Step {
	return Step{Op: "link", Path: from, Path2: to, Flags: flags}
}
func sUnlink(p string) Step               { return Step{Op: "unlink", Path: p} }
func sRmdir(p string) Step                { return Step{Op: "rmdir", Path: p} }
func sRename(a, b string, flags int) Step { return Step{Op: "rename", Path: a, Path2: b, Flags: flags} }
func sChmod(p string, mode uint32) Step   { return Step{Op: "chmod", Path: p, Mode: mode} }
func sChown(p string, uid, gid int) Step  { return Step{Op: "chown", Path: p, UID: uid, GID: gid} }
func sLchown(p string, uid, gid int) Step {
	return Step{Op: "chown", Path: p, UID: uid, GID: gid, Flags: unix.AT_SYMLINK_NOFOLLOW}
}
func sTrunc(p string, size int64) Step { return Step{Op: "truncate", Path: p, Size: size} }
func sStat(p string) Step              { return Step{Op: "stat", Path: p} }
func sLstat(p string) Step             { return Step{Op: "lstat", Path: p} }
func sReadlink(p string) Step          { return Step{Op: "readlink", Path: p} }
func sAccess(p string, mode uint32, fl int) Step {
	return Step{Op: "access", Path: p, Mode: mode, Flags: fl}
}
func sSetx(p, name, val string, fl int) Step {
	return Step{Op: "setxattr", Path: p, Path2: name, Data: val, Flags: fl}
}
func sGetx(p, name string) Step { return Step{Op: "getxattr", Path: p, Path2: name} }
func sRmx(p, name string) Step  { return Step{Op: "removexattr", Path: p, Path2: name} }
func sListx(p string) Step      { return Step{Op: "listxattr", Path: p} }
func sReaddir(p string) Step    { return Step{Op: "readdir", Path: p} }
func sBind(p string) Step       { return Step{Op: "bind", Path: p} }
func sUmask(m uint32) Step      { return Step{Op: "umask", Mode: m} }
func sUtimens(p string, flags int, times ...int64) Step {
	return Step{Op: "utimens", Path: p, Flags: flags, Times: times}
}

// watch lstats paths after s.
func watch(s Step, paths ...string) Step { s.Watch = append(s.Watch, paths...); return s }

// sFile creates p with data and mode (open, write, close in slot 9).
func sFile(p, data string, mode uint32) []Step {
	return []Step{sOpen(9, p, unix.O_CREAT|unix.O_WRONLY|unix.O_EXCL, mode), sWrite(9, data), sClose(9)}
}

// sOtherFile creates p owned by the other user and group (a root phase).
func sOtherFile(p string, mode uint32) []Step {
	return append(sFile(p, "other's", mode), sChown(p, DiffOtherUID, DiffOtherGID), sChmod(p, mode))
}

const (
	nowT  = unix.UTIME_NOW
	omitT = unix.UTIME_OMIT
	t1    = int64(500000000123456789) // 1985, explicit
	t2    = int64(700000000987654321) // 1992
)
