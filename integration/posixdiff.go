package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The POSIX differential driver (issue 12, docs/posix.md): the same
// scripted syscall sequences run on a tmpfs directory and on a clusterf
// mount, as root and as an unprivileged uid/gid with a supplementary
// group, and must give the same results: return values, errnos, data,
// the stat fields that mean something (type, mode, nlink, uid, gid, size,
// rdev) and the order of the times.
//
// A case runs in its own directory (owned by the unprivileged user) in
// phases; each phase runs in a child process, the test binary again
// (RunPosixDiffChild), as root or as the user: a process cannot drop its
// privileges and get them back, and a FUSE mount must not be used by the
// process serving it (the server is the clusterf child anyway).

// Identities of the unprivileged variant.
const (
	DiffUID      = 1000
	DiffGID      = 1000
	DiffGroup2   = 2000 // a supplementary group of the user
	DiffOtherUID = 1001 // owns files the user does not
	DiffOtherGID = 3000 // a group the user is not in
)

// Case is one scripted sequence.
type Case struct {
	Name   string
	Umask  int // 0: 022
	Phases []Phase
}

// Phase is a part of a case run by one identity.
type Phase struct {
	Root  bool // run as root in the unprivileged variant too
	Steps []Step
}

// P is a phase run by the variant's identity; R one run as root. Both
// take steps and lists of steps.
func P(steps ...any) Phase { return Phase{Steps: flatSteps(steps)} }
func R(steps ...any) Phase { return Phase{Root: true, Steps: flatSteps(steps)} }

func flatSteps(parts []any) []Step {
	var out []Step
	for _, p := range parts {
		switch v := p.(type) {
		case Step:
			out = append(out, v)
		case []Step:
			out = append(out, v...)
		default:
			panic(fmt.Sprintf("posixdiff: %T is not a step", p))
		}
	}
	return out
}

// childJob is what a child runs: a list of case phases.
type childJob struct {
	Dir   string `json:"dir"`
	Umask int    `json:"umask"`
	Steps []Step `json:"steps"`
}

// PosixDiffChildEnv marks a test binary started as a driver child.
const PosixDiffChildEnv = "POSIXDIFF_CHILD"

// RunPosixDiffChild runs the jobs on stdin and writes their results to
// stdout (called by TestMain when PosixDiffChildEnv is set).
func RunPosixDiffChild() int {
	var jobs []childJob
	if err := json.NewDecoder(os.Stdin).Decode(&jobs); err != nil {
		fmt.Fprintln(os.Stderr, "posixdiff child:", err)
		return 2
	}
	out := make([][]Result, len(jobs))
	for i, j := range jobs {
		out[i] = execCase(j.Dir, j.Umask, j.Steps)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "posixdiff child:", err)
		return 2
	}
	return 0
}

// DiffEnv is a tmpfs and a clusterf mount under one directory every user
// can traverse, and a copy of the test binary every user can run.
type DiffEnv struct {
	Base  string // holds tmpfs/, mnt/, bin/
	Tmpfs string
	Mount string
	Node  *Node
	bin   string
}

// NewDiffEnv mounts a tmpfs (nosuid,nodev,noatime, as the clusterf mount
// behaves: docs/posix.md) and starts a node.
func NewDiffEnv(t *testing.T) *DiffEnv {
	t.Helper()
	base, err := os.MkdirTemp("", "posixdiff-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) }) // runs last: after the unmounts
	e := &DiffEnv{Base: base, Tmpfs: filepath.Join(base, "tmpfs"), Mount: filepath.Join(base, "mnt"), bin: filepath.Join(base, "bin", "posixdiff.test")}
	for _, d := range []string{e.Tmpfs, e.Mount, filepath.Dir(e.bin)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := copyFile(self, e.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "nosuid,nodev,noatime,mode=0755", "tmpfs", e.Tmpfs).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v\n%s", e.Tmpfs, err, out)
	}
	registerMount(e.Tmpfs)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", e.Tmpfs).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", e.Tmpfs, err, out)
		}
	})
	e.Node = StartNode(t, NodeOptions{Mountpoint: e.Mount})
	return e
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runChild runs jobs in a child process as root or as the user.
func (e *DiffEnv) runChild(jobs []childJob, asUser bool) ([][]Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, "-test.run=^$")
	cmd.Env = append(ChildEnv(), PosixDiffChildEnv+"=1")
	cmd.Dir = "/"
	in, _ := json.Marshal(jobs)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if asUser {
		// setgroups, setresgid, setresuid in the child before exec.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: DiffUID, Gid: DiffGID, Groups: []uint32{DiffGID, DiffGroup2}}
	}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("posixdiff child (user %v): %w\nstderr:\n%s", asUser, err, tail(stderr.String(), 8<<10))
	}
	var out [][]Result
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out) != len(jobs) {
		return nil, fmt.Errorf("posixdiff child output (%d results for %d jobs): %v\nstderr:\n%s", len(out), len(jobs), err, tail(stderr.String(), 8<<10))
	}
	return out, nil
}

// Run runs every case in the variant (unprivileged: phases not marked
// root run as the user) on root (the tmpfs or the mount) and returns the
// results by case and phase.
func (e *DiffEnv) Run(root, variant string, cases []Case, unprivileged bool) ([][][]Result, error) {
	dirs := make([]string, len(cases))
	maxPhases := 0
	for i, c := range cases {
		dirs[i] = filepath.Join(root, variant, strconv.Itoa(i))
		if err := os.MkdirAll(dirs[i], 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(dirs[i], DiffUID, DiffGID); err != nil {
			return nil, err
		}
		maxPhases = max(maxPhases, len(c.Phases))
	}
	res := make([][][]Result, len(cases))
	for i, c := range cases {
		res[i] = make([][]Result, len(c.Phases))
	}
	for ph := 0; ph < maxPhases; ph++ {
		for _, asUser := range []bool{false, true} {
			var jobs []childJob
			var idx []int
			for i, c := range cases {
				if ph >= len(c.Phases) || (unprivileged && !c.Phases[ph].Root) != asUser {
					continue
				}
				umask := c.Umask
				if umask == 0 {
					umask = 0o22
				}
				jobs = append(jobs, childJob{Dir: dirs[i], Umask: umask, Steps: c.Phases[ph].Steps})
				idx = append(idx, i)
			}
			if len(jobs) == 0 {
				continue
			}
			out, err := e.runChild(jobs, asUser)
			if err != nil {
				return nil, err
			}
			for k, i := range idx {
				res[i][ph] = out[k]
			}
		}
	}
	return res, nil
}

// MountExt4 mounts an ext4 filesystem (a loop-mounted 256 MiB image, with
// the tmpfs's options) under Base and returns where.
func (e *DiffEnv) MountExt4(t *testing.T) string {
	t.Helper()
	img, dir := filepath.Join(e.Base, "ext4.img"), filepath.Join(e.Base, "ext4")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*exec.Cmd{
		exec.Command("truncate", "-s", "256M", img),
		exec.Command("mkfs.ext4", "-q", "-F", img),
		exec.Command("mount", "-o", "loop,nosuid,nodev,noatime", img, dir),
	} {
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c.Args, err, out)
		}
	}
	registerMount(dir)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// Diff runs cases on the tmpfs and on the mount in one variant and
// reports every difference (at most limit of them as test errors). It
// returns the number of differences.
func (e *DiffEnv) Diff(t *testing.T, variant string, cases []Case, unprivileged bool, limit int) int {
	t.Helper()
	return e.DiffWith(t, e.Tmpfs, variant, cases, unprivileged, limit)
}

// DiffWith is Diff against another reference directory than the tmpfs.
func (e *DiffEnv) DiffWith(t *testing.T, ref, variant string, cases []Case, unprivileged bool, limit int) int {
	t.Helper()
	want, err := e.Run(ref, variant, cases, unprivileged)
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	got, err := e.Run(e.Mount, variant, cases, unprivileged)
	if err != nil {
		t.Fatalf("clusterf: %v", err)
	}
	n := 0
	for i, c := range cases {
		for _, d := range compareCase(c, want[i], got[i]) { // "tmpfs" in the lines: the reference
			n++
			if n <= limit {
				t.Errorf("%s [%s]: %s", c.Name, variant, d)
			}
		}
	}
	if n > limit {
		t.Errorf("... and %d more differences", n-limit)
	}
	return n
}

// WithFinalState appends a phase (same identity as the last one) that
// lists the case directory and lstats and lists every path the case
// named, so the end state is compared too.
func WithFinalState(c Case) Case {
	seen := map[string]bool{".": true}
	steps := []Step{sReaddirStep(".")}
	add := func(p string) {
		if p == "" || len(p) > 300 || seen[p] || filepath.IsAbs(p) {
			return
		}
		seen[p] = true
		steps = append(steps, Step{Op: "lstat", Path: p}, sReaddirStep(p))
	}
	for _, ph := range c.Phases {
		for _, s := range ph.Steps {
			add(s.Path)
			if s.Op == "link" || s.Op == "rename" {
				add(s.Path2)
			}
		}
	}
	root := len(c.Phases) > 0 && c.Phases[len(c.Phases)-1].Root
	c.Phases = append(append([]Phase(nil), c.Phases...), Phase{Root: root, Steps: steps})
	return c
}

func sReaddirStep(p string) Step { return Step{Op: "readdir", Path: p} }
