package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type clientOp struct {
	at   time.Duration
	desc string
	ok   bool
}

type faultClient struct {
	c     *faultCluster
	id    int
	dir   string // directory name at the root, owned by this client alone
	rest  bool
	heavy bool // delete-heavy (faults_heavy.go)
	node  int
	rng   *rand.Rand
	files []string // names relative to dir ("f0.bin", "d0/g1.bin")
	dirs  []string // heavy: subdirectories of dir, removed as a whole
	tmp   string   // scratch dir for REST bodies

	// Model, touched only by the client's goroutine until it stops.
	state    map[string]map[string]bool // name -> possible content sha ("" = absent)
	floating map[string]map[string]bool // name -> effects of timed-out REST ops that may land later
	known    map[string][]byte          // name -> exact content, when state is one present version
	history  map[string]bool            // every content sha this client ever tried to write
	partial  map[string][]partialWrite  // name -> failed writes that may have left a prefix
	dirState map[string]map[string]bool // subdir -> possible states ("" absent, "d" present)
	dirFloat map[string]map[string]bool // subdir -> effects of timed-out REST ops
	past     [][]byte                   // heavy: recent contents, written again (deduplication against garbage)
	acked    int
	closed   int // acknowledged by close() alone (no fsync)
	unknown  int
	ops      []clientOp
}

func newFaultClient(c *faultCluster, id int, rest bool, node int) *faultClient {
	fc := &faultClient{c: c, id: id, rest: rest, node: node,
		rng:   rand.New(rand.NewPCG(c.cfg.Seed, uint64(1000+id))),
		state: map[string]map[string]bool{}, floating: map[string]map[string]bool{},
		known: map[string][]byte{}, history: map[string]bool{}, partial: map[string][]partialWrite{}, tmp: c.t.TempDir(),
		dirState: map[string]map[string]bool{}, dirFloat: map[string]map[string]bool{}}
	kind := "fuse"
	if rest {
		kind = "rest"
	}
	fc.dir = fmt.Sprintf("%s%d", kind, id)
	for i := range c.cfg.FilesPerClient {
		name := fmt.Sprintf("f%d.bin", i)
		fc.files = append(fc.files, name)
		fc.state[name] = map[string]bool{"": true}
	}
	return fc
}

func shaHex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// content makes a unique payload: mostly chunked sizes, sometimes inline.
func (fc *faultClient) content(seq int) []byte {
	var n int
	switch r := fc.rng.IntN(10); {
	case r == 0:
		n = 1 + fc.rng.IntN(faultInlineMax-1)
	case r < 8:
		n = 8<<10 + fc.rng.IntN(120<<10)
	default:
		n = 128<<10 + fc.rng.IntN(200<<10)
	}
	b := make([]byte, n)
	var key [32]byte
	for i := range key {
		key[i] = byte(fc.rng.Uint32())
	}
	rand.NewChaCha8(key).Read(b)
	copy(b, fmt.Sprintf("client %d op %d\n", fc.id, seq))
	return b
}

func (fc *faultClient) record(desc string, ok bool) {
	fc.ops = append(fc.ops, clientOp{at: time.Since(fc.c.start), desc: desc, ok: ok})
	if ok {
		fc.acked++
	} else {
		fc.unknown++
	}
}

// opsOn lists the client's operations that may have touched the file of
// conflict copy (or file) name: on its base name, or on its directory.
func (fc *faultClient) opsOn(name string) string {
	base := filepath.Base(name)
	if i := strings.Index(base, ".conflict-"); i >= 0 {
		base = base[:i] + filepath.Ext(base)
	}
	file := filepath.Join(filepath.Dir(name), base)
	var lines []string
	for _, op := range fc.ops {
		if strings.Contains(op.desc, " "+file+" ") || strings.Contains(op.desc, " "+file+":") ||
			(dirOf(file) != "" && strings.Contains(op.desc, " "+dirOf(file)+":")) {
			lines = append(lines, fmt.Sprintf("  [%6.1fs] ok=%v %s", op.at.Seconds(), op.ok, op.desc))
		}
	}
	return strings.Join(lines, "\n")
}

func one(sha string) map[string]bool { return map[string]bool{sha: true} }

// partialWrite: a FUSE write that failed (not acknowledged) may have left
// any prefix of full at least minLen long — O_TRUNC at open, then a crash
// before the data was committed, leaves an empty file, as on a local disk.
type partialWrite struct {
	full   []byte
	minLen int
}

// applied updates the model after an op on name that set content sha ("" =
// delete): acknowledged -> exactly that; unknown -> either.
func (fc *faultClient) applied(name, sha string, data []byte, ok bool) {
	if sha != "" {
		fc.history[sha] = true
	}
	if ok {
		fc.state[name] = one(sha)
		if sha != "" {
			fc.known[name] = data
		} else {
			delete(fc.known, name)
		}
		return
	}
	fc.state[name][sha] = true
	delete(fc.known, name)
}

func (fc *faultClient) run(stop <-chan struct{}) {
	mount := fc.c.nodes[fc.node].Mountpoint()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(50+fc.rng.IntN(250)) * time.Millisecond):
		}
		// Decide first (so the schedule only depends on the seed), then wait
		// while the node is down (killed/restarting).
		op := fc.next(mount, seq)
		for fc.c.down[fc.node].Load() {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		start := time.Now()
		op()
		if d := time.Since(start); d > 20*time.Second && len(fc.ops) > 0 {
			// Slow operations make the clients' stop after the healing slow.
			fc.c.logf("client %s: an operation took %v: %s", fc.dir, d.Round(100*time.Millisecond), fc.ops[len(fc.ops)-1].desc)
		}
	}
}

// next draws the client's next operation.
func (fc *faultClient) next(mount string, seq int) func() {
	if fc.heavy {
		pl := fc.heavyPlan(seq)
		if fc.rest {
			return func() { fc.heavyRESTOp(pl) }
		}
		return func() { fc.heavyFuseOp(mount, pl) }
	}
	name := fc.files[fc.rng.IntN(len(fc.files))]
	other := fc.files[fc.rng.IntN(len(fc.files))]
	r := fc.rng.IntN(100)
	data := fc.content(seq)
	if fc.rest {
		return func() { fc.restOp(r, name, data) }
	}
	return func() { fc.fuseOp(mount, r, name, other, data) }
}

func (fc *faultClient) fuseOp(mount string, r int, name, other string, data []byte) {
	p := filepath.Join(mount, fc.dir, name)
	_, isKnown := fc.known[name]
	switch {
	case r < 15 && isKnown: // append
		suffix := data[:min(len(data), 1+r*4096)]
		want := append(slices.Clone(fc.known[name]), suffix...)
		base := len(fc.known[name])
		sync := r%3 != 0
		err := fuseWrite(p, suffix, os.O_WRONLY|os.O_APPEND, sync)
		fc.recordWrite(fmt.Sprintf("append%s %s +%d -> %.12s: %v", closeOnly(sync), name, len(suffix), shaHex(want), err), err == nil, sync)
		fc.applied(name, shaHex(want), want, err == nil)
		if err != nil {
			fc.partial[name] = append(fc.partial[name], partialWrite{want, base})
		} else {
			delete(fc.partial, name)
		}
	case r < 30 && name != other && !fc.state[name][""]: // rename over another owned file
		err := childFS(nil, "mv", "-f", "-T", p, filepath.Join(mount, fc.dir, other))
		fc.record(fmt.Sprintf("rename %s -> %s: %v", name, other, err), err == nil)
		src := fc.state[name]
		fc.partial[other] = append(fc.partial[other], fc.partial[name]...)
		if err == nil {
			delete(fc.partial, name)
			fc.state[other] = src
			fc.state[name] = one("")
			if k, ok := fc.known[name]; ok {
				fc.known[other] = k
			} else {
				delete(fc.known, other)
			}
			delete(fc.known, name)
		} else {
			for s := range src {
				fc.state[other][s] = true
			}
			fc.state[name][""] = true
			delete(fc.known, name)
			delete(fc.known, other)
		}
	case r < 45: // delete
		err := childFS(nil, "rm", p)
		fc.record(fmt.Sprintf("delete %s: %v", name, err), err == nil)
		fc.applied(name, "", nil, err == nil)
		if err == nil {
			delete(fc.partial, name)
		}
	default: // create or overwrite
		sync := r%3 != 0
		err := fuseWrite(p, data, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, sync)
		fc.recordWrite(fmt.Sprintf("write%s %s %d bytes %.12s: %v", closeOnly(sync), name, len(data), shaHex(data), err), err == nil, sync)
		fc.applied(name, shaHex(data), data, err == nil)
		if err != nil {
			fc.partial[name] = append(fc.partial[name], partialWrite{data, 0})
		} else {
			delete(fc.partial, name)
		}
	}
}

// recordWrite records a FUSE write; one acknowledged by close() alone
// (sync false) must survive just the same: the nemesis kills (kill -9)
// but never takes a disk, and close() survives kill -9 of any node.
func (fc *faultClient) recordWrite(desc string, ok, sync bool) {
	fc.record(desc, ok)
	if ok && !sync {
		fc.closed++
	}
}

func closeOnly(sync bool) string {
	if sync {
		return ""
	}
	return "(close)"
}

// fuseWrite writes, fsyncs (sync: dd conv=fsync; else close() alone is the
// acknowledgement) and closes: acknowledged only if all succeed.
//
// Every FUSE access of the clients runs in a child process, never in the
// test process: a file the test process holds open on a mount is inherited
// by every child it forks (curl, ip, clusterf), and the child's close at
// exec sends FUSE FLUSH to that mount's server. With the server paused
// (SIGSTOP) the exec, and with it the nemesis that would resume the
// server, blocks for ever (seen with seed 20260801 before this rule).
func fuseWrite(p string, data []byte, flag int, sync bool) error {
	conv := "conv=fsync"
	if flag&os.O_APPEND != 0 {
		conv = "conv=notrunc,fsync"
	}
	if !sync {
		conv = strings.TrimSuffix(strings.TrimSuffix(conv, "fsync"), ",")
	}
	args := []string{"of=" + p, "bs=1M", "iflag=fullblock", "status=none"}
	if conv != "conv=" {
		args = append(args, conv)
	}
	if flag&os.O_APPEND != 0 {
		args = append(args, "oflag=append")
	}
	return childFS(data, "dd", args...)
}

func childFS(stdin []byte, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (fc *faultClient) restOp(r int, name string, data []byte) {
	if r < 25 {
		fc.restDelete(name)
	} else {
		fc.restPut(name, data)
	}
}

func (fc *faultClient) restURL(name string) string {
	return "http://127.0.0.1:8080/api/files/" + fc.dir + "/" + name
}

// restCall runs one request on the client's node and records it: ok when
// it was acknowledged (2xx); noAnswer when there was none (timeout,
// connection reset): such a request may still be applied later, after the
// client's next operations.
func (fc *faultClient) restCall(desc string, args ...string) (ok, noAnswer bool) {
	h := fc.c.net.Hosts[fc.node]
	args = append([]string{"-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30"}, args...)
	out, err := h.Curl(40*time.Second, args...)
	code := strings.TrimSpace(out)
	ok = err == nil && (code == "201" || code == "204" || code == "200")
	fc.record(fmt.Sprintf("%s: code=%q err=%v", desc, code, err), ok)
	return ok, err != nil || code == "000"
}

// restPut uploads data as name (parents are created).
func (fc *faultClient) restPut(name string, data []byte) {
	body := filepath.Join(fc.tmp, "body")
	if err := os.WriteFile(body, data, 0o644); err != nil {
		return // the test is ending (its temp dir is gone)
	}
	sha := shaHex(data)
	ok, noAnswer := fc.restCall(fmt.Sprintf("rest put %s %.12s", name, sha), "-X", "PUT", "--data-binary", "@"+body, fc.restURL(name))
	fc.history[sha] = true
	if noAnswer {
		fc.float(name, sha)
		fc.floatDir(dirOf(name), "d")
		return
	}
	fc.applied(name, sha, data, ok)
	fc.touchDir(dirOf(name), ok)
}

// restDelete deletes the file name.
func (fc *faultClient) restDelete(name string) {
	ok, noAnswer := fc.restCall(fmt.Sprintf("rest delete %s ", name), "-X", "DELETE", fc.restURL(name))
	if noAnswer {
		fc.float(name, "")
		return
	}
	fc.applied(name, "", nil, ok)
}

// float records that an unanswered request may set name to sha later.
func (fc *faultClient) float(name, sha string) {
	if fc.floating[name] == nil {
		fc.floating[name] = map[string]bool{}
	}
	fc.floating[name][sha] = true
	fc.state[name][sha] = true
	delete(fc.known, name)
}
