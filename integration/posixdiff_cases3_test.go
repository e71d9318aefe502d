package integration

import (
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

const mib = 1 << 20

func truncateCases() []Case {
	var cs []Case
	for _, size := range []int64{0, 1, 4095, 4096, 4097, 5 * mib, 1 << 50, math.MaxInt64, -1} {
		for _, how := range []struct {
			name string
			s    []Step
		}{
			{"truncate", []Step{watch(sTrunc("f", size), "f")}},
			{"ftruncate", []Step{sOpen(0, "f", unix.O_WRONLY, 0), sFtrunc(0, size), sFstat(0), sClose(0)}},
			{"ftruncate rdonly", []Step{sOpen(0, "f", unix.O_RDONLY, 0), sFtrunc(0, size)}},
			{"open trunc then", []Step{sOpen(0, "f", unix.O_RDWR|unix.O_TRUNC, 0), sFtrunc(0, size), sPwrite(0, "end", 3), sFstat(0), sClose(0)}},
		} {
			cs = append(cs, Case{Name: fmt.Sprintf("%s to %d", how.name, size), Phases: []Phase{P(
				sFile("f", "0123456789", 0o644), watch(sStat("f"), "f"), how.s, watch(sStat("f"), "f"),
				sOpen(1, "f", unix.O_RDONLY, 0), sPread(1, 12, 0), sPread(1, 4, 4094), sPread(1, 3, 1<<49), sPread(1, 4, math.MaxInt64-3))}})
		}
	}
	ops := []struct {
		name string
		s    []Step
	}{
		{"dir", []Step{sMkdir("d", 0o755), sTrunc("d", 0)}},
		{"same size", []Step{watch(sTrunc("f", 10), "f"), sOpen(0, "f", unix.O_WRONLY, 0), watch(sFtrunc(0, 10), "f")}},
		{"o_trunc empty", []Step{sTrunc("f", 0), watch(sStat("f"), "f"), sOpen(0, "f", unix.O_WRONLY|unix.O_TRUNC, 0), watch(sFstat(0), "f")}},
		{"readonly file", []Step{sChmod("f", 0o444), sTrunc("f", 0), sOpen(0, "f", unix.O_WRONLY|unix.O_TRUNC, 0)}},
		{"append", []Step{sOpen(0, "f", unix.O_WRONLY|unix.O_APPEND, 0), sPwrite(0, "A", 0), sWrite(0, "B"), sFstat(0), sOpen(1, "f", unix.O_RDONLY, 0), sPread(1, 20, 0)}},
		{"write past MaxInt64", []Step{sOpen(0, "f", unix.O_WRONLY, 0), sPwrite(0, "xy", math.MaxInt64-1), sPwrite(0, "x", math.MaxInt64-1), sFstat(0), sPwrite(0, "x", -1)}},
		{"seek", []Step{sOpen(0, "f", unix.O_RDWR, 0), sSeek(0, 4, unix.SEEK_SET), sWrite(0, "W"), sSeek(0, -2, unix.SEEK_END), sWrite(0, "E"), sSeek(0, 0, unix.SEEK_CUR), sPread(0, 20, 0), sSeek(0, -100, unix.SEEK_SET)}},
	}
	for _, o := range ops {
		cs = append(cs, Case{Name: "truncate: " + o.name, Phases: []Phase{P(sFile("f", "0123456789", 0o644), o.s)}})
	}
	cs = append(cs, Case{Name: "truncate other's writable", Phases: []Phase{R(sOtherFile("f", 0o666)), P(watch(sTrunc("f", 3), "f"), sChmod("f", 0o600))}})
	return cs
}

func utimeCases() []Case {
	times := []struct {
		name string
		t    []int64
	}{
		{"null", nil}, {"now now", []int64{nowT, nowT}}, {"omit omit", []int64{omitT, omitT}},
		{"omit now", []int64{omitT, nowT}}, {"now omit", []int64{nowT, omitT}}, {"t1 t2", []int64{t1, t2}},
		{"t1 omit", []int64{t1, omitT}}, {"omit t2", []int64{omitT, t2}}, {"t2 now", []int64{t2, nowT}},
	}
	owners := []struct {
		name  string
		setup Phase
	}{
		{"own", P(sFile("f", "x", 0o644))},
		{"other's writable", R(sOtherFile("f", 0o666))},
		{"other's readonly", R(sOtherFile("f", 0o644))},
	}
	var cs []Case
	for _, o := range owners {
		for _, tm := range times {
			cs = append(cs, Case{Name: fmt.Sprintf("utimens %s %s", o.name, tm.name), Phases: []Phase{o.setup,
				P(watch(sStat("f"), "f"), watch(sUtimens("f", 0, tm.t...), "f"), sOpen(0, "f", unix.O_RDONLY, 0),
					watch(sFutimens(0, tm.t...), "f"))}})
		}
	}
	for _, tm := range times {
		cs = append(cs, Case{Name: "utimens symlink nofollow " + tm.name, Phases: []Phase{P(sFile("f", "x", 0o644), sSymlink("f", "l"),
			watch(sUtimens("l", unix.AT_SYMLINK_NOFOLLOW, tm.t...), "l", "f"))}})
		cs = append(cs, Case{Name: "utimens dir " + tm.name, Phases: []Phase{P(sMkdir("d", 0o755),
			watch(sUtimens("d", 0, tm.t...), "d"), watch(sMkdir("d/x", 0o755), "d"))}})
	}
	// Which operations change which times of the file and its directory.
	ops := []struct {
		name string
		s    Step
	}{
		{"chmod", sChmod("d/f", 0o600)}, {"chown -1 -1", sChown("d/f", -1, -1)}, {"chgrp", sChown("d/f", -1, DiffGroup2)},
		{"link", sLink("d/f", "d/g", 0)}, {"rename", sRename("d/f", "d/g", 0)}, {"rename out", sRename("d/f", "g", 0)},
		{"setxattr", sSetx("d/f", "user.t", "v", 0)}, {"truncate", sTrunc("d/f", 100)}, {"truncate same", sTrunc("d/f", 4)},
		{"write", sOpen(0, "d/f", unix.O_WRONLY|unix.O_APPEND, 0)}, {"o_trunc", sOpen(0, "d/f", unix.O_WRONLY|unix.O_TRUNC, 0)},
		{"read", sOpen(0, "d/f", unix.O_RDONLY, 0)}, {"mkdir", sMkdir("d/x", 0o755)}, {"unlink", sUnlink("d/f")},
		{"symlink", sSymlink("f", "d/s")}, {"mknod", sFifo("d/p")}, {"readdir", sReaddir("d")},
	}
	for _, o := range ops {
		cs = append(cs, Case{Name: "times after " + o.name, Phases: []Phase{P(sMkdir("d", 0o755), sFile("d/f", "data", 0o644), sLink("d/f", "keep", 0),
			watch(sStat("d"), "d", "keep"), watch(o.s, "d", "keep", "d/f"), sWrite(0, "w"), sPread(0, 8, 0), watch(sClose(0), "d", "keep"),
			sSetx("keep", "user.t", "v", 0), watch(sRmx("keep", "user.t"), "keep"))}})
	}
	return cs
}

func sparseCases() []Case {
	const cs = 4 * mib // the chunk size: seeks agree at chunk granularity (docs/posix.md)
	return []Case{
		{Name: "sparse: data in the middle", Phases: []Phase{P(sOpen(0, "s", unix.O_CREAT|unix.O_RDWR, 0o644),
			sPwriteN(0, cs, 2*cs), sFtrunc(0, 5*cs), sFsync(0),
			sSeek(0, 0, unix.SEEK_DATA), sSeek(0, 0, unix.SEEK_HOLE), sSeek(0, 2*cs, unix.SEEK_HOLE), sSeek(0, 2*cs+5, unix.SEEK_DATA),
			sSeek(0, 3*cs, unix.SEEK_DATA), sSeek(0, 5*cs, unix.SEEK_HOLE), sSeek(0, 5*cs-1, unix.SEEK_HOLE), sSeek(0, -1, unix.SEEK_DATA),
			sClose(0), sOpen(0, "s", unix.O_RDONLY, 0), sSeek(0, 0, unix.SEEK_DATA), sSeek(0, 2*cs, unix.SEEK_HOLE), sPread(0, 4, 2*cs-2), sPread(0, 4, 3*cs-2))}},
		{Name: "sparse: data at the end", Phases: []Phase{P(sOpen(0, "s", unix.O_CREAT|unix.O_RDWR, 0o644),
			sPwrite(0, "tail", 3*cs), sSeek(0, 0, unix.SEEK_DATA), sSeek(0, 3*cs, unix.SEEK_HOLE), sSeek(0, 3*cs+4, unix.SEEK_DATA), sClose(0),
			sOpen(0, "s", unix.O_RDONLY, 0), sSeek(0, 0, unix.SEEK_DATA), sSeek(0, 1, unix.SEEK_HOLE), sPread(0, 6, 3*cs-2))}},
		{Name: "sparse: 1 PiB", Phases: []Phase{P(sOpen(0, "s", unix.O_CREAT|unix.O_RDWR, 0o644), sFtrunc(0, 1<<50), sFstat(0),
			sSeek(0, 0, unix.SEEK_DATA), sSeek(0, 0, unix.SEEK_HOLE), sPread(0, 8, 1<<49), sPwriteN(0, cs, 1<<49), sClose(0),
			sOpen(0, "s", unix.O_RDONLY, 0), sSeek(0, 0, unix.SEEK_DATA), sSeek(0, 1<<49, unix.SEEK_HOLE), sPread(0, 4, 1<<49-2), sPread(0, 4, 1<<50-2),
			sTrunc("s", 1<<49+2), sPread(0, 4, 1<<49), sStat("s"))}},
		{Name: "sparse: empty file", Phases: []Phase{P(sOpen(0, "s", unix.O_CREAT|unix.O_RDWR, 0o644), sSeek(0, 0, unix.SEEK_DATA), sSeek(0, 0, unix.SEEK_HOLE))}},
		{Name: "sparse: small file", Phases: []Phase{P(sFile("s", "small", 0o644), sOpen(0, "s", unix.O_RDONLY, 0), sSeek(0, 0, unix.SEEK_DATA), sSeek(0, 2, unix.SEEK_HOLE), sSeek(0, 5, unix.SEEK_DATA))}},
	}
}

func notDirCases() []Case {
	var cs []Case
	for _, p := range []string{"file/x", "file/", "file/.", "lfile/x", "missing/x"} {
		ops := []Step{
			sOpen(0, p, unix.O_RDONLY, 0), sOpen(0, p, unix.O_CREAT|unix.O_WRONLY, 0o644), sMkdir(p, 0o755), sFifo(p), sSymlink("x", p),
			sLink("file", p, 0), sLink(p, "y", 0), sUnlink(p), sRmdir(p), sRename(p, "y", 0), sRename("dir", p, 0), sChmod(p, 0o600),
			sChown(p, -1, -1), sTrunc(p, 0), sStat(p), sLstat(p), sUtimens(p, 0, nowT, nowT), sAccess(p, unix.F_OK, 0), sReadlink(p),
			sSetx(p, "user.a", "v", 0), sGetx(p, "user.a"), sReaddir(p), sBind(p),
		}
		for i, s := range ops {
			cs = append(cs, Case{Name: fmt.Sprintf("not a dir %s op %d %s", p, i, s.Op), Phases: []Phase{P(fixture(), s)}})
		}
	}
	cs = append(cs, Case{Name: "not a dir: rename dir over file", Phases: []Phase{P(fixture(), sRename("dir", "file", 0), sRename("file", "dir", 0), sRename("dir", "lfile", 0))}})
	return cs
}

func xattrCases() []Case {
	targets := []struct {
		name  string
		setup Phase
	}{
		{"own file", P(sFile("t", "x", 0o644))}, {"own dir", P(sMkdir("t", 0o755))},
		{"symlink", P(sSymlink("nowhere", "t"))}, {"other's file", R(sOtherFile("t", 0o644))},
		{"other's writable file", R(sOtherFile("t", 0o666))}, {"own readonly file", P(sFile("t", "x", 0o444))},
	}
	ops := []struct {
		name string
		s    []Step
	}{
		{"set get list remove", []Step{watch(sSetx("t", "user.k", "v1", 0), "t"), sGetx("t", "user.k"), sSetx("t", "user.j", "", 0), sListx("t"), watch(sRmx("t", "user.k"), "t"), sListx("t"), sGetx("t", "user.j")}},
		{"create replace", []Step{sSetx("t", "user.k", "a", unix.XATTR_CREATE), sSetx("t", "user.k", "b", unix.XATTR_CREATE), sSetx("t", "user.k", "c", unix.XATTR_REPLACE), sSetx("t", "user.n", "d", unix.XATTR_REPLACE), sGetx("t", "user.k")}},
		{"missing", []Step{sGetx("t", "user.none"), sRmx("t", "user.none")}},
		{"bad names", []Step{sSetx("t", "user.", "v", 0), sSetx("t", "nonamespace", "v", 0), sSetx("t", "user."+string(make([]byte, 0))+"x", "v", 0)}},
		{"long name", []Step{sSetx("t", "user."+repeat("n", 250), "v", 0), sSetx("t", "user."+repeat("n", 251), "v", 0)}},
	}
	var cs []Case
	for _, tg := range targets {
		for _, o := range ops {
			cs = append(cs, Case{Name: fmt.Sprintf("xattr %s: %s", tg.name, o.name), Phases: []Phase{tg.setup, P(o.s)}})
		}
	}
	return cs
}

func repeat(s string, n int) string {
	b := make([]byte, 0, n*len(s))
	for range n {
		b = append(b, s...)
	}
	return string(b)
}

func accessCases() []Case {
	var cs []Case
	for _, m := range []uint32{0, 0o444, 0o222, 0o111, 0o755, 0o700, 0o070, 0o007, 0o4755} {
		for _, own := range []struct {
			name     string
			uid, gid int
		}{{"own", DiffUID, DiffGID}, {"group", DiffOtherUID, DiffGroup2}, {"other", DiffOtherUID, DiffOtherGID}} {
			var steps []Step
			for _, mode := range []uint32{unix.F_OK, unix.R_OK, unix.W_OK, unix.X_OK, unix.R_OK | unix.W_OK | unix.X_OK} {
				steps = append(steps, sAccess("f", mode, 0), sAccess("d", mode, 0), sAccess("f", mode, unix.AT_EACCESS))
			}
			steps = append(steps, sOpen(0, "f", unix.O_RDONLY, 0), sOpen(1, "f", unix.O_WRONLY, 0), sStat("d/inner"), sReaddir("d"))
			cs = append(cs, Case{Name: fmt.Sprintf("access %04o %s", m, own.name), Phases: []Phase{
				R(sFile("f", "x", 0o644), sChown("f", own.uid, own.gid), sChmod("f", m),
					sMkdir("d", 0o755), sFile("d/inner", "i", 0o644), sChown("d", own.uid, own.gid), sChmod("d", m)),
				P(steps)}})
		}
	}
	return cs
}

func dirCases() []Case {
	ops := []struct {
		name string
		s    []Step
	}{
		{"mkdir existing", []Step{sMkdir("d", 0o755), sMkdir("d", 0o755), sMkdir("f", 0o755), sMkdir("l", 0o755)}},
		{"mkdir trailing slash", []Step{watch(sMkdir("t/", 0o755), "t"), sMkdir("t//", 0o755), sMkdir("u/.", 0o755)}},
		{"mkdir in missing", []Step{sMkdir("missing/x", 0o755)}},
		{"nested", []Step{sMkdir("a", 0o755), sMkdir("a/b", 0o755), sMkdir("a/b/c", 0o755), watch(sMkdir("a/b2", 0o755), "a", "a/b"), sRmdir("a/b"), sRmdir("a/b/c"), watch(sRmdir("a/b"), "a")}},
		{"readdir kinds", []Step{sMkdir("d", 0o755), sFifo("p"), sBind("k"), sSymlink("d", "sl"), sFile("r", "r", 0o600)[0], sClose(9), sReaddir("."), sReaddir("d"), sReaddir("r")}},
		{"rename dir into itself", []Step{sMkdir("d", 0o755), sMkdir("d/e", 0o755), sRename("d", "d/e/x", 0), sRename("d", "d", 0), sRename("d/e", "d", 0), sRename("d", "d/e", unix.RENAME_EXCHANGE)}},
		{"many entries", manyEntries()},
	}
	var cs []Case
	for _, o := range ops {
		cs = append(cs, Case{Name: "dir: " + o.name, Phases: []Phase{P(sFile("f", "f", 0o644), sSymlink("f", "l"), o.s)}})
	}
	return cs
}

func manyEntries() []Step {
	var s []Step
	for i := range 60 {
		s = append(s, sFifo(fmt.Sprintf("e%02d", i)))
	}
	for i := 0; i < 60; i += 3 {
		s = append(s, sUnlink(fmt.Sprintf("e%02d", i)))
	}
	return append(s, sReaddir("."))
}
