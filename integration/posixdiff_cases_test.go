package integration

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The scripted cases of TestPosixDiff, by theme. Every case runs as root
// and as the unprivileged user (phases made with R always as root).

func diffCases() []Case {
	var cs []Case
	for _, gen := range []func() []Case{
		openCases, createModeCases, setgidCases, ownershipCases, privClearCases, stickyCases,
		permissionCases, renameCases, linkCases, symlinkCases, longNameCases, specialCases,
		truncateCases, utimeCases, sparseCases, notDirCases, xattrCases, accessCases, dirCases,
	} {
		cs = append(cs, gen()...)
	}
	return cs
}

// fixture: a file, a directory, symlinks to them, to nothing and to
// themselves, a FIFO.
func fixture() []Step {
	return append(sFile("file", "hello", 0o644),
		sMkdir("dir", 0o755), sSymlink("file", "lfile"), sSymlink("missing", "lmissing"),
		sSymlink("dir", "ldir"), sSymlink("loop", "loop"), sFifo("fifo"))
}

func openCases() []Case {
	targets := []string{"missing", "file", "dir", "lfile", "lmissing", "ldir", "fifo", "loop", "file/x", "missing/x", "dir/", "file/", "dir/new"}
	flags := []struct {
		name string
		f    int
	}{
		{"rdonly", unix.O_RDONLY}, {"wronly", unix.O_WRONLY}, {"rdwr", unix.O_RDWR},
		{"creat", unix.O_WRONLY | unix.O_CREAT}, {"excl", unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL},
		{"trunc", unix.O_WRONLY | unix.O_TRUNC}, {"rdonly-trunc", unix.O_RDONLY | unix.O_TRUNC},
		{"nofollow", unix.O_RDONLY | unix.O_NOFOLLOW}, {"directory", unix.O_RDONLY | unix.O_DIRECTORY},
		{"creat-directory", unix.O_RDONLY | unix.O_CREAT | unix.O_DIRECTORY}, {"append", unix.O_WRONLY | unix.O_APPEND},
		{"creat-nofollow", unix.O_RDWR | unix.O_CREAT | unix.O_NOFOLLOW},
	}
	var cs []Case
	for _, tg := range targets {
		for _, fl := range flags {
			// I/O through a FIFO does not reach the filesystem: on FUSE it
			// changes no time of the FIFO (docs/posix.md), so none is done.
			io := []Step{sWrite(0, "ab"), sPread(0, 16, 0)}
			if tg == "fifo" {
				io = nil
			}
			cs = append(cs, Case{Name: "open " + tg + " " + fl.name, Phases: []Phase{P(fixture(),
				watch(sOpen(0, tg, fl.f|unix.O_NONBLOCK, 0o640), tg, "file"),
				sFstat(0), io, watch(sClose(0), tg, "file"))}})
		}
	}
	return cs
}

func createModeCases() []Case {
	modes := []uint32{0, 0o644, 0o777, 0o4755, 0o2755, 0o6777, 0o1777, 0o111}
	var cs []Case
	for _, um := range []int{0o22, 0o77, 0o2} {
		for _, m := range modes {
			for _, mk := range []struct {
				name string
				s    []Step
			}{
				{"open", []Step{sOpen(0, "n", unix.O_CREAT|unix.O_WRONLY, m), sFstat(0), sClose(0)}},
				{"mkdir", []Step{sMkdir("n", m)}},
				{"mkfifo", []Step{sMknod("n", unix.S_IFIFO|m, 0)}},
				{"mknod-reg", []Step{sMknod("n", unix.S_IFREG|m, 0)}},
				{"mknod-0", []Step{sMknod("n", m, 0)}},
			} {
				cs = append(cs, Case{Name: fmt.Sprintf("create %s %04o umask %03o", mk.name, m, um), Umask: um,
					Phases: []Phase{P(mk.s, watch(sStat("n"), "."), sUmask(uint32(um)))}})
			}
		}
		cs = append(cs, Case{Name: fmt.Sprintf("bind umask %03o", um), Umask: um, Phases: []Phase{P(watch(sBind("sock"), "sock", "."), sBind("sock"))}})
	}
	return cs
}

// setgidCases: inodes made in set-group-ID directories, of a group the
// user is in and of one they are not.
func setgidCases() []Case {
	var cs []Case
	parents := []struct {
		name       string
		uid, gid   int
		mode       uint32
		userMember bool
	}{
		{"member", DiffUID, DiffGroup2, 0o2775, true},
		{"foreign", DiffOtherUID, DiffOtherGID, 0o2777, false},
		{"plain", DiffUID, DiffGroup2, 0o775, true},
	}
	for _, par := range parents {
		for _, m := range []uint32{0o644, 0o2755, 0o755, 0o6755} {
			for _, mk := range []struct {
				name string
				s    Step
			}{
				{"open", sOpen(0, "sg/n", unix.O_CREAT|unix.O_WRONLY, m)},
				{"mkdir", sMkdir("sg/n", m)},
				{"mkfifo", sMknod("sg/n", unix.S_IFIFO|m, 0)},
				{"symlink", sSymlink("target", "sg/n")},
			} {
				cs = append(cs, Case{Name: fmt.Sprintf("setgid dir %s: %s %04o", par.name, mk.name, m), Phases: []Phase{
					R(sMkdir("sg", 0o755), sChown("sg", par.uid, par.gid), sChmod("sg", par.mode)),
					P(watch(mk.s, "sg/n", "sg"), sClose(0), sMkdir("sg/n/deeper", 0o755), sLstat("sg/n/deeper")),
				}})
			}
		}
	}
	return cs
}

// ownershipCases: chmod and chown of one's own and another's file,
// directory and FIFO, by path, by descriptor and through a symlink.
func ownershipCases() []Case {
	type op struct {
		name string
		s    []Step
	}
	ops := []op{
		{"chmod 0600", []Step{sChmod("t", 0o600)}}, {"chmod 04755", []Step{sChmod("t", 0o4755)}},
		{"chmod 02755", []Step{sChmod("t", 0o2755)}}, {"chmod 01777", []Step{sChmod("t", 0o1777)}},
		{"chmod 0", []Step{sChmod("t", 0)}},
		{"fchmod 0751", []Step{sOpen(0, "t", unix.O_RDONLY|unix.O_NONBLOCK, 0), sFchmod(0, 0o751), sFstat(0)}},
		{"chown self", []Step{sChown("t", DiffUID, -1)}}, {"chown other", []Step{sChown("t", DiffOtherUID, -1)}},
		{"chgrp member", []Step{sChown("t", -1, DiffGroup2)}}, {"chgrp foreign", []Step{sChown("t", -1, DiffOtherGID)}},
		{"chown -1 -1", []Step{sChown("t", -1, -1)}}, {"chown root", []Step{sChown("t", 0, 0)}},
		{"lchown link", []Step{sSymlink("t", "l"), sLchown("l", -1, DiffGroup2), sLstat("l")}},
		{"chown via link", []Step{sSymlink("t", "l"), sChown("l", -1, DiffGroup2), sLstat("l")}},
		{"fchown member", []Step{sOpen(0, "t", unix.O_RDONLY|unix.O_NONBLOCK, 0), sFchown(0, -1, DiffGroup2), sFstat(0)}},
	}
	kinds := []struct {
		name string
		mk   func(p string) []Step
	}{
		{"file", func(p string) []Step { return sFile(p, "data", 0o664) }},
		{"dir", func(p string) []Step { return []Step{sMkdir(p, 0o775)} }},
		{"fifo", func(p string) []Step { return []Step{sMknod(p, unix.S_IFIFO|0o664, 0)} }},
	}
	var cs []Case
	for _, k := range kinds {
		for _, o := range ops {
			cs = append(cs, Case{Name: fmt.Sprintf("own %s: %s", k.name, o.name), Phases: []Phase{
				P(k.mk("t"), watch(sStat("t"), "t"), o.s, watch(sStat("t"), "t"))}})
			cs = append(cs, Case{Name: fmt.Sprintf("other's %s: %s", k.name, o.name), Phases: []Phase{
				R(k.mk("t"), sChown("t", DiffOtherUID, DiffOtherGID), sChmod("t", 0o666)),
				P(watch(sStat("t"), "t"), o.s, watch(sStat("t"), "t"))}})
		}
	}
	return cs
}

// privClearCases: set-user-ID and set-group-ID bits cleared by write,
// truncate and chown (not by root's write), as the kernel does it.
func privClearCases() []Case {
	var cs []Case
	for _, m := range []uint32{0o6755, 0o6745, 0o4700, 0o2770, 0o2710} {
		ops := []struct {
			name string
			s    []Step
		}{
			{"write", []Step{sOpen(0, "f", unix.O_WRONLY, 0), sWrite(0, "x"), sClose(0)}},
			{"truncate", []Step{sTrunc("f", 1)}},
			{"ftruncate", []Step{sOpen(0, "f", unix.O_WRONLY, 0), sFtrunc(0, 0), sClose(0)}},
			{"chown same", []Step{sChown("f", DiffUID, DiffGroup2)}},
			{"chgrp", []Step{sChown("f", -1, DiffGID)}},
			{"chmod", []Step{sChmod("f", m)}},
		}
		for _, o := range ops {
			cs = append(cs, Case{Name: fmt.Sprintf("priv %04o %s", m, o.name), Phases: []Phase{
				R(sFile("f", "data", 0o644), sChown("f", DiffUID, DiffGroup2), sChmod("f", m)),
				P(watch(sStat("f"), "f"), o.s, watch(sStat("f"), "f")),
				R(sChmod("f", m), o.s, watch(sStat("f"), "f")),
			}})
		}
	}
	return cs
}

// stickyCases: a world-writable sticky directory with another user's
// entries.
func stickyCases() []Case {
	setup := R(sMkdir("st", 0o777), sChmod("st", 0o1777), sOtherFile("st/other", 0o666),
		sMkdir("st/odir", 0o777), sChown("st/odir", DiffOtherUID, DiffOtherGID))
	ops := []struct {
		name string
		s    []Step
	}{
		{"unlink other's", []Step{sUnlink("st/other")}},
		{"rename other's", []Step{sRename("st/other", "st/x", 0)}},
		{"rename over other's", []Step{sFile("st/mine", "m", 0o644)[0], sClose(9), sRename("st/mine", "st/other", 0)}},
		{"exchange with other's", []Step{sFile("st/mine", "m", 0o644)[0], sClose(9), sRename("st/mine", "st/other", unix.RENAME_EXCHANGE)}},
		{"rmdir other's", []Step{sRmdir("st/odir")}},
		{"own file", []Step{sFile("st/mine", "m", 0o644)[0], sClose(9), sUnlink("st/mine")}},
		{"write other's", []Step{sOpen(0, "st/other", unix.O_WRONLY, 0), sWrite(0, "w"), sClose(0)}},
		{"creat other's", []Step{sOpen(0, "st/other", unix.O_WRONLY|unix.O_CREAT, 0o644), sClose(0)}},
		{"chmod other's", []Step{sChmod("st/other", 0o600)}},
		{"link other's", []Step{sLink("st/other", "st/hard", 0)}},
		{"utimens other's now", []Step{sUtimens("st/other", 0, nowT, nowT)}},
		{"utimens other's explicit", []Step{sUtimens("st/other", 0, t1, t2)}},
	}
	var cs []Case
	for _, o := range ops {
		cs = append(cs, Case{Name: "sticky: " + o.name, Phases: []Phase{setup, P(o.s, watch(sReaddir("st"), "st", "st/other"))}})
	}
	return cs
}

// permissionCases: directories without search, read or write permission,
// and a mode 0000 file.
func permissionCases() []Case {
	var cs []Case
	for _, m := range []uint32{0o700, 0o600, 0o500, 0o300, 0o100, 0o555, 0o000} {
		for _, own := range []struct {
			name     string
			uid, gid int
		}{{"own", DiffUID, DiffGID}, {"group", DiffOtherUID, DiffGroup2}, {"other", DiffOtherUID, DiffOtherGID}} {
			gm := m | m>>3 | m>>6 // the same bits for group and others
			cs = append(cs, Case{Name: fmt.Sprintf("dir %04o %s", gm, own.name), Phases: []Phase{
				R(sMkdir("d", 0o755), sFile("d/f", "x", 0o644), sChown("d", own.uid, own.gid), sChmod("d", gm)),
				P(sStat("d/f"), sReaddir("d"), sOpen(0, "d/f", unix.O_RDONLY, 0), sClose(0),
					sOpen(0, "d/new", unix.O_CREAT|unix.O_WRONLY, 0o644), sClose(0), sUnlink("d/f"), sMkdir("d/sub", 0o755),
					sRename("d/f", "d/g", 0), sChmod("d", 0o777), sLstat("d")),
			}})
		}
	}
	cs = append(cs, Case{Name: "mode 0000 file", Phases: []Phase{
		P(sOpen(0, "z", unix.O_CREAT|unix.O_WRONLY, 0), sWrite(0, "secret"), sClose(0), watch(sOpen(0, "z", unix.O_RDONLY, 0), "z"), sPread(0, 10, 0), sClose(0)),
		R(sOpen(0, "z", unix.O_RDWR, 0), sPread(0, 10, 0), sClose(0)),
		P(sChmod("z", 0o400), sOpen(0, "z", unix.O_RDONLY, 0), sPread(0, 10, 0)),
	}})
	return cs
}
