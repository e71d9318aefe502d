package integration

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// renameFixture: files f and g, a hard link h of f, directories d (with a
// subdirectory), e (empty) and n (not empty), a symlink s, a FIFO p, and
// a socket k.
func renameFixture() []Step {
	st := append(sFile("f", "F", 0o644), sFile("g", "G", 0o640)...)
	return append(st, sLink("f", "h", 0), sMkdir("d", 0o755), sMkdir("d/sub", 0o755), sMkdir("e", 0o700),
		sMkdir("n", 0o755), sMkdir("n/x", 0o755), sSymlink("g", "s"), sFifo("p"), sBind("k"))
}

func renameCases() []Case {
	srcs := []string{"f", "d", "e", "s", "p", "h", "k", "missing", "f/", "d/"}
	dsts := []string{"new", "g", "e", "n", "s", "p", "h", "f", "d/sub", "d/sub/deeper", "new/", "missing/x", "g/x", ".", "..", "d/.."}
	flags := []struct {
		name string
		f    int
	}{{"", 0}, {" noreplace", unix.RENAME_NOREPLACE}, {" exchange", unix.RENAME_EXCHANGE}}
	var cs []Case
	for _, s := range srcs {
		for _, d := range dsts {
			for _, fl := range flags {
				if fl.f != 0 && strings.Contains(d, "/") && d != "d/sub" {
					continue // a missing or odd target: enough with flags 0
				}
				cs = append(cs, Case{Name: fmt.Sprintf("rename %s -> %s%s", s, d, fl.name), Phases: []Phase{P(renameFixture(),
					watch(sRename(s, d, fl.f), "f", "g", "h", "d", "e", "n", "s", "p", ".", "new"),
					sReaddir("."), sReaddir("d"), sReaddir("n"), sReaddir("e"))}})
			}
		}
	}
	cs = append(cs, Case{Name: "rename across directories", Phases: []Phase{P(renameFixture(),
		watch(sRename("f", "n/f2", 0), "n", ".", "n/f2", "h"), watch(sRename("n/x", "d/x", 0), "n", "d", "d/x"),
		watch(sRename("d", "e/d", 0), "e", "e/d", "e/d/sub"))}})
	cs = append(cs, Case{Name: "rename renameat2 whiteout", Phases: []Phase{P(renameFixture(), sRename("f", "new", unix.RENAME_WHITEOUT))}})
	return cs
}

func linkCases() []Case {
	ops := []struct {
		name string
		s    []Step
	}{
		{"file", []Step{watch(sLink("f", "l1", 0), "f", "l1", "."), sLink("f", "l2", 0), sUnlink("f"), watch(sStat("l1"), "l2")}},
		{"dir", []Step{sLink("d", "l1", 0)}},
		{"over existing", []Step{sLink("f", "g", 0)}},
		{"symlink nofollow", []Step{watch(sLink("s", "l1", 0), "l1", "s")}},
		{"symlink follow", []Step{watch(sLink("s", "l1", unix.AT_SYMLINK_FOLLOW), "l1", "g")}},
		{"fifo", []Step{watch(sLink("p", "l1", 0), "p", "l1")}},
		{"socket", []Step{watch(sLink("k", "l1", 0), "k", "l1")}},
		{"into file", []Step{sLink("f", "g/l1", 0)}},
		{"from missing", []Step{sLink("missing", "l1", 0)}},
		{"into missing dir", []Step{sLink("f", "missing/l1", 0)}},
		{"trailing slash", []Step{sLink("f/", "l1", 0), sLink("f", "l1/", 0)}},
		{"unlink dir", []Step{sUnlink("d")}},
		{"unlink missing", []Step{sUnlink("missing")}},
		{"unlink trailing slash", []Step{sUnlink("f/")}},
		{"unlink symlink", []Step{watch(sUnlink("s"), "s", "g")}},
		{"unlink one of two", []Step{watch(sUnlink("h"), "f", ".")}},
		{"unlink open file", []Step{sOpen(0, "f", unix.O_RDWR, 0), sUnlink("f"), sUnlink("h"), sFstat(0), sWrite(0, "more"), sPread(0, 10, 0), sFstat(0)}},
		{"rmdir file", []Step{sRmdir("f")}},
		{"rmdir non-empty", []Step{sRmdir("n")}},
		{"rmdir empty", []Step{watch(sRmdir("e"), ".")}},
		{"rmdir dot", []Step{sRmdir("e/.")}},
		{"rmdir dotdot", []Step{sRmdir("e/..")}},
		{"rmdir symlink to dir", []Step{sSymlink("e", "se"), sRmdir("se"), sRmdir("se/")}},
		{"rmdir missing", []Step{sRmdir("missing")}},
		{"rmdir trailing slash", []Step{sRmdir("e/")}},
		{"rmdir cwd child dot", []Step{sRmdir(".")}},
		{"nlink of directories", []Step{watch(sMkdir("e/a", 0o755), "e", "."), watch(sMkdir("e/b", 0o755), "e"), watch(sRename("e/a", "n/a", 0), "e", "n"), watch(sRmdir("e/b"), "e")}},
	}
	var cs []Case
	for _, o := range ops {
		cs = append(cs, Case{Name: "link/unlink: " + o.name, Phases: []Phase{P(renameFixture(), o.s)}})
	}
	return cs
}

func symlinkCases() []Case {
	var chain []Step
	for i := 0; i < 41; i++ {
		chain = append(chain, sSymlink(fmt.Sprintf("c%d", i+1), fmt.Sprintf("c%d", i)))
	}
	chain = append(chain, sFile("c41", "end", 0o644)...)
	long := strings.Repeat("t", 4095)
	ops := []struct {
		name string
		s    []Step
	}{
		{"loop", []Step{sStat("loop"), sLstat("loop"), sReadlink("loop"), sOpen(0, "loop", unix.O_RDONLY, 0), sOpen(0, "loop", unix.O_CREAT|unix.O_WRONLY, 0o644), sChmod("loop", 0o600), sTrunc("loop", 0), sUnlink("loop")}},
		{"chain of 40", append(chain, sStat("c1"), sOpen(0, "c1", unix.O_RDONLY, 0), sPread(0, 3, 0))},
		{"chain of 41", append(chain, sStat("c0"), sOpen(0, "c0", unix.O_RDONLY, 0))},
		{"nofollow", []Step{sOpen(0, "lfile", unix.O_RDONLY|unix.O_NOFOLLOW, 0), sOpen(0, "lfile", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_PATH, 0), sFstat(0)}},
		{"readlink file", []Step{sReadlink("file"), sReadlink("dir"), sReadlink("missing")}},
		{"long target", []Step{sSymlink(long, "lt"), sReadlink("lt"), sLstat("lt"), sSymlink(long+"t", "lt2"), sStat("lt")}},
		{"empty target", []Step{sSymlink("", "le")}},
		{"over existing", []Step{sSymlink("x", "file"), sSymlink("x", "lfile"), sSymlink("x", "dir/")}},
		{"trailing slash", []Step{sStat("ldir/"), sStat("lfile/"), sOpen(0, "ldir/", unix.O_RDONLY, 0), sLstat("ldir/"), sReaddir("ldir/")}},
		{"mkdir on dangling", []Step{sMkdir("lmissing", 0o755), sLstat("missing")}},
		{"creat through dangling", []Step{watch(sOpen(0, "lmissing", unix.O_CREAT|unix.O_WRONLY, 0o600), "missing", "lmissing"), sWrite(0, "via"), sClose(0)}},
		{"excl through dangling", []Step{sOpen(0, "lmissing", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o600), sLstat("missing")}},
		{"relative into dir", []Step{sSymlink("../file", "dir/up"), sStat("dir/up"), sOpen(0, "dir/up", unix.O_RDONLY, 0), sPread(0, 5, 0)}},
		{"through symlinked dir", []Step{sFile("dir/inner", "in", 0o644)[0], sClose(9), sStat("ldir/inner"), sUnlink("ldir/inner"), sReaddir("dir")}},
		{"chmod through symlink", []Step{watch(sChmod("lfile", 0o600), "file", "lfile")}},
		{"truncate through symlink", []Step{watch(sTrunc("lfile", 2), "file")}},
		{"utimens nofollow", []Step{watch(sUtimens("lfile", unix.AT_SYMLINK_NOFOLLOW, t1, t2), "lfile", "file")}},
		{"rename symlink", []Step{watch(sRename("lfile", "dir/moved", 0), "dir/moved"), sStat("dir/moved")}},
		{"symlink in missing dir", []Step{sSymlink("x", "missing/l"), sSymlink("x", "file/l")}},
	}
	var cs []Case
	for _, o := range ops {
		cs = append(cs, Case{Name: "symlink: " + o.name, Phases: []Phase{P(fixture(), o.s)}})
	}
	return cs
}

func longNameCases() []Case {
	var cs []Case
	for _, n := range []int{255, 256, 1024, 1025} {
		nm := strings.Repeat("n", n)
		ops := []struct {
			name string
			s    []Step
		}{
			{"creat", []Step{sOpen(0, nm, unix.O_CREAT|unix.O_WRONLY, 0o644), sClose(0)}},
			{"open", []Step{sOpen(0, nm, unix.O_RDONLY, 0)}},
			{"mkdir", []Step{sMkdir(nm, 0o755)}},
			{"mkfifo", []Step{sFifo(nm)}},
			{"bind", []Step{sBind(nm)}},
			{"symlink", []Step{sSymlink("file", nm), sSymlink(nm, "tolong"), sStat("tolong")}},
			{"link", []Step{sLink("file", nm, 0)}},
			{"rename to", []Step{sRename("file", nm, 0)}},
			{"rename from", []Step{sRename(nm, "x", 0)}},
			{"chmod", []Step{sChmod(nm, 0o600)}},
			{"chown", []Step{sChown(nm, -1, -1)}},
			{"truncate", []Step{sTrunc(nm, 0)}},
			{"stat", []Step{sStat(nm), sLstat(nm), sStat("dir/" + nm)}},
			{"unlink", []Step{sUnlink(nm)}},
			{"rmdir", []Step{sRmdir(nm)}},
			{"utimens", []Step{sUtimens(nm, 0, nowT, nowT)}},
			{"xattr", []Step{sSetx(nm, "user.a", "v", 0), sGetx(nm, "user.a")}},
			{"access", []Step{sAccess(nm, unix.F_OK, 0)}},
			{"readlink", []Step{sReadlink(nm)}},
		}
		for _, o := range ops {
			cs = append(cs, Case{Name: fmt.Sprintf("name of %d: %s", n, o.name), Phases: []Phase{P(sFile("file", "f", 0o644), sMkdir("dir", 0o755), o.s)}})
		}
	}
	// Paths near PATH_MAX (4096 with its NUL): 16 levels of 250-byte names.
	var deep []Step
	p := "."
	for i := 0; i < 16; i++ {
		p += "/" + strings.Repeat(string(rune('a'+i)), 250)
		deep = append(deep, sMkdir(p, 0o755))
	}
	for _, extra := range []int{1, 20, 36, 37, 38, 300} {
		q := p + "/" + strings.Repeat("z", extra)
		cs = append(cs, Case{Name: fmt.Sprintf("path of %d bytes", len(q)), Phases: []Phase{P(deep,
			sOpen(0, q, unix.O_CREAT|unix.O_WRONLY, 0o644), sClose(0), sStat(q), sMkdir(q+"d", 0o755), sUnlink(q), sStat(p))}})
	}
	return cs
}

func specialCases() []Case {
	ops := []struct {
		name string
		s    []Step
	}{
		{"char device", []Step{watch(sMknod("c", unix.S_IFCHR|0o666, unix.Mkdev(1, 3)), "c", "."), sOpen(0, "c", unix.O_RDONLY, 0)}},
		{"block device", []Step{watch(sMknod("b", unix.S_IFBLK|0o600, unix.Mkdev(7, 200)), "b"), sOpen(0, "b", unix.O_RDONLY, 0)}},
		{"big device numbers", []Step{watch(sMknod("c", unix.S_IFCHR|0o644, unix.Mkdev(4095, 1048575)), "c")}},
		{"mknod dir", []Step{sMknod("x", unix.S_IFDIR|0o755, 0)}},
		{"mknod bad type", []Step{sMknod("x", 0o170000|0o644, 0)}},
		{"mknod over existing", []Step{sFifo("p"), sFifo("p"), sMknod("p", unix.S_IFREG|0o644, 0)}},
		{"fifo read nonblock", []Step{sFifo("p"), sOpen(0, "p", unix.O_RDONLY|unix.O_NONBLOCK, 0), sFstat(0), sPread(0, 1, 0)}},
		{"fifo write no reader", []Step{sFifo("p"), sOpen(0, "p", unix.O_WRONLY|unix.O_NONBLOCK, 0)}},
		{"fifo pipe", []Step{sFifo("p"), sOpen(0, "p", unix.O_RDONLY|unix.O_NONBLOCK, 0), sOpen(1, "p", unix.O_WRONLY|unix.O_NONBLOCK, 0),
			sWrite(1, "through"), {Op: "read", FD: 0, Size: 7}, sClose(1), sClose(0), sUnlink("p")}}, // no stat after: FIFO times (docs/posix.md)
		{"fifo truncate", []Step{sFifo("p"), sTrunc("p", 0), sOpen(0, "p", unix.O_RDWR|unix.O_NONBLOCK, 0), sFtrunc(0, 0)}},
		{"fifo chmod chown", []Step{sFifo("p"), watch(sChmod("p", 0o600), "p"), watch(sChown("p", -1, DiffGroup2), "p")}},
		{"fifo xattr", []Step{sFifo("p"), sSetx("p", "user.a", "v", 0), sGetx("p", "user.a"), sListx("p")}},
		{"fifo rename link unlink", []Step{sFifo("p"), sLink("p", "q", 0), watch(sRename("p", "r", 0), "q", "r"), sUnlink("q"), watch(sStat("r"), "r")}},
		{"fifo utimens", []Step{sFifo("p"), watch(sUtimens("p", 0, t1, t2), "p")}},
		{"socket", []Step{watch(sBind("s"), "s", "."), sBind("s"), sOpen(0, "s", unix.O_RDONLY, 0), sChmod("s", 0o600), sLstat("s"), sUnlink("s"), sBind("s")}},
		{"socket over file", []Step{sFile("s", "x", 0o644)[0], sClose(9), sBind("s")}},
		{"device chown", []Step{sMknod("c", unix.S_IFCHR|0o600, unix.Mkdev(1, 5)), watch(sChown("c", DiffOtherUID, -1), "c"), sRename("c", "d", 0), sStat("d")}},
	}
	var cs []Case
	for _, o := range ops {
		cs = append(cs, Case{Name: "special: " + o.name, Phases: []Phase{P(o.s)}})
	}
	cs = append(cs, Case{Name: "special: root made devices", Phases: []Phase{
		R(sMknod("c", unix.S_IFCHR|0o666, unix.Mkdev(1, 3)), sMknod("b", unix.S_IFBLK|0o660, unix.Mkdev(8, 1)), sChown("b", DiffUID, DiffGID)),
		P(watch(sStat("c"), "c", "b"), sOpen(0, "c", unix.O_WRONLY, 0), sChmod("b", 0o600), sChmod("c", 0o600), sUnlink("b")),
	}})
	return cs
}
