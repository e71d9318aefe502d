package integration

import (
	"fmt"
	"math/rand/v2"

	"golang.org/x/sys/unix"
)

// randomCase is a random syscall sequence over a few names, switching
// between the variant's identity and root now and then.
func randomCase(rng *rand.Rand, i, n int) Case {
	names := []string{"a", "b", "c", "d", "e", "d/a", "d/b", "e/x", "d/e", "d/e/y"}
	pick := func() string { return names[rng.IntN(len(names))] }
	modes := []uint32{0, 0o600, 0o644, 0o755, 0o777, 0o4755, 0o2775, 0o1777, 0o6711, 0o444}
	uids := []int{-1, DiffUID, DiffOtherUID, 0}
	gids := []int{-1, DiffGID, DiffGroup2, DiffOtherGID, 0}
	// No truncate(2) to 0: on an empty file tmpfs leaves the times, ext4
	// and clusterf set them (TestPosixDiffExt4, docs/posix.md).
	sizes := []int64{3, 4096, 4097, 9000, 5 * mib}
	offs := []int64{0, 3, 4095, 9000, 4 * mib}
	times := [][]int64{nil, {nowT, nowT}, {omitT, nowT}, {t1, omitT}, {t1, t2}, {omitT, omitT}}
	renameFlags := []int{0, 0, unix.RENAME_NOREPLACE, unix.RENAME_EXCHANGE}
	umasks := []int{0o22, 0o77, 0o2}
	c := Case{Name: fmt.Sprintf("random %d", i), Umask: umasks[rng.IntN(len(umasks))]}
	cur := Phase{Root: rng.IntN(4) == 0}
	for k := 0; k < n; k++ {
		if rng.IntN(10) == 0 && len(cur.Steps) > 0 {
			c.Phases = append(c.Phases, cur)
			cur = Phase{Root: !cur.Root}
		}
		p, q := pick(), pick()
		var s []Step
		switch rng.IntN(20) {
		case 0, 1:
			s = []Step{sOpen(0, p, unix.O_CREAT|unix.O_WRONLY|unix.O_NONBLOCK, modes[rng.IntN(len(modes))]), sWrite(0, "data"), sClose(0)}
		case 2:
			s = []Step{sMkdir(p, modes[rng.IntN(len(modes))])}
		case 3:
			s = []Step{sMknod(p, unix.S_IFIFO|modes[rng.IntN(len(modes))], 0)}
		case 4:
			s = []Step{sSymlink(q, p)}
		case 5:
			s = []Step{sLink(p, q, 0)}
		case 6:
			s = []Step{sUnlink(p)}
		case 7:
			s = []Step{sRmdir(p)}
		case 8, 9:
			s = []Step{sRename(p, q, renameFlags[rng.IntN(len(renameFlags))])}
		case 10:
			s = []Step{sChmod(p, modes[rng.IntN(len(modes))])}
		case 11:
			s = []Step{sChown(p, uids[rng.IntN(len(uids))], gids[rng.IntN(len(gids))])}
		case 12:
			s = []Step{sTrunc(p, sizes[rng.IntN(len(sizes))])}
		case 13, 14:
			s = []Step{sOpen(0, p, unix.O_RDWR|unix.O_NONBLOCK, 0), sPwrite(0, "xyz", offs[rng.IntN(len(offs))]), sFstat(0), sPread(0, 8, 0), sClose(0)}
		case 15:
			s = []Step{sUtimens(p, 0, times[rng.IntN(len(times))]...)}
		case 16:
			s = []Step{sSetx(p, "user.x", "v", 0)}
		case 17:
			s = []Step{sRmx(p, "user.x")}
		case 18:
			s = []Step{sBind(p)}
		default:
			s = []Step{sReaddir("d"), sStat(p)}
		}
		s[len(s)-1] = watch(s[len(s)-1], p, q)
		cur.Steps = append(cur.Steps, s...)
	}
	c.Phases = append(c.Phases, cur)
	return c
}
