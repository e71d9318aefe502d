package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// Delete-heavy clients put garbage collection under pressure: every file
// spans several chunks (faultChunkSize), and the client overwrites files
// whole (O_TRUNC, PUT) and in place (a range of one to three chunks, so
// the new version shares its other chunks with the old one), deletes them,
// writes the same names again — often with bytes it wrote before, so the
// new file references chunks that just became garbage (deduplication
// against collection) — and removes whole subdirectories (FUSE rm -r,
// REST DELETE ?recursive=true). Each client owns its directory alone, as
// every client does (the checker's single-owner rule): its operations are
// sequential, so a delete that comes back is a bug.

// heavyNames are a delete-heavy client's files, relative to its directory;
// heavyDirs the subdirectories it removes as a whole.
var (
	heavyNames = []string{"h0.bin", "h1.bin", "d0/g0.bin", "d0/g1.bin", "d1/g0.bin", "d1/g1.bin"}
	heavyDirs  = []string{"d0", "d1"}
)

// heavyPast is how many recent contents a client keeps to write again.
const heavyPast = 8

func newHeavyClient(c *faultCluster, id int, rest bool, node int) *faultClient {
	fc := newFaultClient(c, id, rest, node)
	fc.heavy = true
	fc.dir = "gc" + fc.dir
	fc.files = slices.Clone(heavyNames)
	fc.dirs = slices.Clone(heavyDirs)
	fc.state = map[string]map[string]bool{}
	for _, name := range fc.files {
		fc.state[name] = one("")
	}
	for _, d := range fc.dirs {
		fc.dirState[d] = one("")
	}
	return fc
}

// heavyPlan is one drawn operation of a delete-heavy client.
type heavyPlan struct {
	r    int    // which operation (0..99)
	name string // the file
	dir  string // the subdirectory (whole-directory deletes)
	data []byte // fresh content of several chunks
	off  int    // in-place overwrite: offset, modulo the size + 1
	plen int    // in-place overwrite: bytes written
	pick int    // which earlier content to write again
}

func (fc *faultClient) heavyPlan(seq int) heavyPlan {
	pl := heavyPlan{r: fc.rng.IntN(100), name: fc.files[fc.rng.IntN(len(fc.files))], dir: fc.dirs[fc.rng.IntN(len(fc.dirs))]}
	n := (2+fc.rng.IntN(5))*faultChunkSize + fc.rng.IntN(faultChunkSize)
	pl.data = make([]byte, n)
	var key [32]byte
	for i := range key {
		key[i] = byte(fc.rng.Uint32())
	}
	rand.NewChaCha8(key).Read(pl.data)
	copy(pl.data, fmt.Sprintf("client %d op %d\n", fc.id, seq))
	pl.off = fc.rng.IntN(1 << 30)
	pl.plen = min(n, 1+fc.rng.IntN(3*faultChunkSize))
	pl.pick = fc.rng.IntN(1 << 30)
	return pl
}

// remember keeps data among the recent contents.
func (fc *faultClient) remember(data []byte) {
	fc.past = append(fc.past, data)
	if len(fc.past) > heavyPast {
		fc.past = fc.past[1:]
	}
}

// pastContent is an earlier content (the fresh one when there is none).
func (fc *faultClient) pastContent(pl heavyPlan) []byte {
	if len(fc.past) == 0 {
		return pl.data
	}
	return fc.past[pl.pick%len(fc.past)]
}

// sameBytes is the file's current content when known, else an earlier one.
func (fc *faultClient) sameBytes(pl heavyPlan) []byte {
	if k, ok := fc.known[pl.name]; ok {
		return k
	}
	return fc.pastContent(pl)
}

func (fc *faultClient) heavyFuseOp(mount string, pl heavyPlan) {
	switch {
	case pl.r < 30: // create or overwrite whole
		fc.fuseCreate(mount, pl.name, pl.data)
	case pl.r < 45: // overwrite in place
		if old, ok := fc.known[pl.name]; ok {
			fc.fuseOverwriteAt(mount, pl.name, old, pl)
		} else {
			fc.fuseCreate(mount, pl.name, pl.data)
		}
	case pl.r < 65:
		fc.fuseDelete(mount, pl.name)
	case pl.r < 77: // the same name with earlier bytes
		fc.fuseCreate(mount, pl.name, fc.pastContent(pl))
	case pl.r < 90:
		fc.fuseRemoveDir(mount, pl.dir)
	default: // delete, then the same bytes again at once
		again := fc.sameBytes(pl)
		if fc.fuseDelete(mount, pl.name) {
			fc.fuseCreate(mount, pl.name, again)
		}
	}
}

// fuseCreate writes data as name (O_TRUNC), creating its directory first.
func (fc *faultClient) fuseCreate(mount, name string, data []byte) {
	p := filepath.Join(mount, fc.dir, name)
	if d := dirOf(name); d != "" {
		err := childFS(nil, "mkdir", "-p", filepath.Dir(p))
		fc.touchDir(d, err == nil)
		if err != nil {
			fc.record(fmt.Sprintf("mkdir -p %s: %v", d, err), false)
			return
		}
	}
	fc.remember(data)
	err := fuseWrite(p, data, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, true)
	fc.record(fmt.Sprintf("write %s %d bytes %.12s: %v", name, len(data), shaHex(data), err), err == nil)
	fc.applied(name, shaHex(data), data, err == nil)
	if err != nil {
		fc.partial[name] = append(fc.partial[name], partialWrite{data, 0})
	} else {
		delete(fc.partial, name)
	}
}

// fuseOverwriteAt writes a range of fresh bytes into the known content old
// without truncating (it may extend the file). A commit is atomic, so a
// failed one leaves the old or the new version.
func (fc *faultClient) fuseOverwriteAt(mount, name string, old []byte, pl heavyPlan) {
	off := pl.off % (len(old) + 1)
	patch := pl.data[:pl.plen]
	want := slices.Clone(old)
	if end := off + len(patch); end > len(want) {
		want = append(want, make([]byte, end-len(want))...)
	}
	copy(want[off:], patch)
	p := filepath.Join(mount, fc.dir, name)
	err := childFS(patch, "dd", "of="+p, "bs=1M", "iflag=fullblock", "oflag=seek_bytes", fmt.Sprintf("seek=%d", off), "conv=notrunc,fsync", "status=none")
	fc.record(fmt.Sprintf("overwrite %s at %d +%d -> %.12s: %v", name, off, len(patch), shaHex(want), err), err == nil)
	fc.remember(want)
	fc.applied(name, shaHex(want), want, err == nil)
}

// fuseDelete removes name (rm -f: a missing file is a success).
func (fc *faultClient) fuseDelete(mount, name string) bool {
	err := childFS(nil, "rm", "-f", filepath.Join(mount, fc.dir, name))
	fc.record(fmt.Sprintf("delete %s: %v", name, err), err == nil)
	fc.applied(name, "", nil, err == nil)
	if err == nil {
		delete(fc.partial, name)
	}
	return err == nil
}

// fuseRemoveDir removes subdirectory d and everything in it (rm -rf).
func (fc *faultClient) fuseRemoveDir(mount, d string) {
	err := childFS(nil, "rm", "-rf", filepath.Join(mount, fc.dir, d))
	fc.record(fmt.Sprintf("rm -r %s: %v", d, err), err == nil)
	fc.dirRemoved(d, err == nil)
}

func (fc *faultClient) heavyRESTOp(pl heavyPlan) {
	switch {
	case pl.r < 35:
		fc.remember(pl.data)
		fc.restPut(pl.name, pl.data)
	case pl.r < 55:
		fc.restDelete(pl.name)
	case pl.r < 70:
		fc.restPut(pl.name, fc.pastContent(pl))
	case pl.r < 85:
		fc.restDeleteDir(pl.dir)
	default: // delete, then the same bytes again at once
		again := fc.sameBytes(pl)
		fc.restDelete(pl.name)
		fc.restPut(pl.name, again)
	}
}

// restDeleteDir removes subdirectory d recursively (a missing one is 204).
func (fc *faultClient) restDeleteDir(d string) {
	ok, noAnswer := fc.restCall("rest delete -r "+d, "-X", "DELETE", fc.restURL(d)+"?recursive=true")
	if !noAnswer {
		fc.dirRemoved(d, ok)
		return
	}
	for _, name := range fc.files {
		if dirOf(name) == d {
			fc.float(name, "")
		}
	}
	fc.floatDir(d, "")
}

// dirOf is the subdirectory of a client's file ("" at the top).
func dirOf(name string) string {
	if d := filepath.Dir(name); d != "." {
		return d
	}
	return ""
}

// dirRemoved updates the model after a recursive delete of d (ok:
// acknowledged; else it may have removed any part of it).
func (fc *faultClient) dirRemoved(d string, ok bool) {
	for _, name := range fc.files {
		if dirOf(name) != d {
			continue
		}
		fc.applied(name, "", nil, ok)
		if ok {
			delete(fc.partial, name)
		}
	}
	if ok {
		fc.dirState[d] = one("")
	} else {
		fc.dirState[d][""] = true
	}
}

// touchDir: an operation that creates d (mkdir -p, PUT below it) was
// acknowledged (ok) or may have happened.
func (fc *faultClient) touchDir(d string, ok bool) {
	if d == "" {
		return
	}
	if ok {
		fc.dirState[d] = one("d")
	} else {
		fc.dirState[d]["d"] = true
	}
}

// floatDir: an unanswered request may still set d's state st later.
func (fc *faultClient) floatDir(d, st string) {
	if d == "" {
		return
	}
	if fc.dirFloat[d] == nil {
		fc.dirFloat[d] = map[string]bool{}
	}
	fc.dirFloat[d][st] = true
	fc.dirState[d][st] = true
}
