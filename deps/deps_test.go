package deps

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// essential are programs of Debian's Essential packages (coreutils, bash,
// dash, grep, sed, findutils, diffutils, gzip, tar, debianutils,
// util-linux, hostname): on every Debian and Ubuntu install, so they need
// no line in deps.txt. Checked against dpkg-query's Essential field on
// Debian 12.
var essential = wordSet(`sh bash dash cat chmod chown cp date dd df dirname basename du echo env
	false head id ln ls mkdir mkfifo mknod mktemp mv nproc printf pwd readlink realpath rm rmdir
	seq sha256sum sleep sort stat sync tail tee test timeout touch tr true truncate uname uniq wc
	yes cut expr install nohup od paste split base64 md5sum kill grep egrep fgrep sed find xargs
	diff cmp gzip gunzip zcat tar which flock getopt setsid unshare setpriv hostname`)

// own are the project's own programs: the Go toolchain that builds it and
// the binaries it builds (cmd/clusterf, bench/quicsink, bench/httpbench,
// and the test binaries that run themselves again as a child: the POSIX
// differential driver's posixdiff.test, and the kill -9 tests of
// chunk/engines, chunk/rawfile and crdt).
var own = wordSet(`go gofmt clusterf quicsink httpbench posixdiff.test engines.test rawfile.test crdt.test`)

// installer is the package manager scripts/deps.sh installs with (apt,
// Priority required on Debian and Ubuntu); deps.sh checks for it first.
var installer = wordSet(`apt-get`)

// dynamicSites are the exec sites whose program is computed at run time,
// by file and function, with the programs each can run (checked against
// the list like every other program). A site that is no longer dynamic
// must leave this table.
var dynamicSites = map[string][]string{
	// The quicsink binary the benchmark builds, run in a namespace.
	"bench/replication_test.go:rawQUICStream": {"nsenter", "quicsink"},
	// Host.Wrap() (nsenter) or nothing, then the built clusterf binary.
	"integration/harness.go:spawn": {"nsenter", "clusterf"},
	// The integration test binary, copied where every user can run it.
	"integration/posixdiff.go:runChild": {"posixdiff.test"},
	// The built clusterf binary (RunBinary's bin).
	"integration/harness.go:RunBinary": {"clusterf"},
	// The built clusterf binary in simulation mode (100 members).
	"integration/web_sim_test.go:BenchmarkDashboard100Nodes": {"clusterf"},
	// httpbench: the clusterf binary of -clusterf, and itself as the
	// net/http baseline server.
	"bench/httpbench/main.go:main": {"clusterf"},
	"bench/httpbench/main.go:run":  {"httpbench"},
	// atrestbench: the clusterf binary of -clusterf (the FUSE case).
	"bench/atrestbench/main.go:main": {"clusterf"},
	// The crash test re-executes its own test binary as the child it kills.
	"chunk/engines/crash_test.go:TestCrash":               {"engines.test"},
	"chunk/rawfile/lazy_test.go:TestPutLazySurvivesKill9": {"rawfile.test"},
	"crdt/journal_test.go:TestJournalSurvivesKill9":       {"crdt.test"},
	// Host.Wrap() (nsenter) then the built clusterf binary's search command.
	"integration/search_test.go:TestSearchCluster": {"nsenter", "clusterf"},
	// The path needTool found with exec.LookPath (that call is checked).
	"webdav/cadaver_test.go:TestCadaver": {"cadaver"},
	"webdav/davfs_test.go:TestDavfs":     {"mount.davfs"},
	"webdav/litmus_test.go:TestLitmus":   {"litmus"},
	"webdav/rclone_test.go:TestRclone":   {"rclone"},
}

// repoFiles returns the module's Go files and scripts (path relative to
// the repository root -> content).
func repoFiles(t *testing.T, root string) (gofiles, scripts map[string][]byte) {
	t.Helper()
	gofiles, scripts = map[string][]byte{}, map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if name := d.Name(); rel != "." && (strings.HasPrefix(name, ".") && name != ".ci" || name == "testdata" || name == "data" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(p, ".go"):
			gofiles[rel] = b
		case strings.HasSuffix(p, ".sh") || d.Name() == "Makefile" ||
			strings.HasPrefix(string(b), "#!/bin/sh") || strings.HasPrefix(string(b), "#!/usr/bin/env bash") || strings.HasPrefix(string(b), "#!/bin/bash"):
			scripts[rel] = b
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return gofiles, scripts
}

// allScripts scans scripts (Makefiles as their recipes).
func allScripts(scripts map[string][]byte) []finding {
	var out []finding
	for name, b := range scripts {
		src := string(b)
		if filepath.Base(name) == "Makefile" {
			src = makeRecipes(src)
		}
		out = append(out, scanShell(src, name, 1, "")...)
	}
	return out
}

// unlisted returns "file:line: prog" for every program the list, the
// Essential packages and the project do not provide, and the problems of
// dynamic sites.
func unlisted(found []finding, listed map[string]Dep, isScript func(string) bool, dyn map[string][]string) []string {
	var bad []string
	used := map[string]bool{}
	ok := func(prog string) bool {
		if strings.Contains(prog, "/") && isScript(prog) {
			return true
		}
		prog = filepath.Base(prog)
		_, inList := listed[prog]
		return inList || essential[prog] || own[prog] || installer[prog]
	}
	for _, f := range found {
		where := fmt.Sprintf("%s:%d", f.pos.Filename, f.pos.Line)
		if f.dynamic {
			key := f.pos.Filename + ":" + f.fn
			progs, known := dyn[key]
			if !known {
				bad = append(bad, fmt.Sprintf("%s: the program run in %s is computed at run time: add %q to dynamicSites in deps/deps_test.go with the programs it runs", where, f.fn, key))
				continue
			}
			used[key] = true
			for _, p := range progs {
				if !ok(p) {
					bad = append(bad, fmt.Sprintf("%s: %s (dynamicSites) is not in deps/deps.txt", where, p))
				}
			}
			continue
		}
		if !ok(f.prog) {
			bad = append(bad, fmt.Sprintf("%s: runs %s, which deps/deps.txt does not list", where, f.prog))
		}
	}
	for key := range dyn {
		if !used[key] {
			bad = append(bad, fmt.Sprintf("dynamicSites has %q, but no dynamic exec site is there any more: remove it", key))
		}
	}
	sort.Strings(bad)
	return bad
}

// TestExecDeps: every program that Go code (the program and its tests)
// or a script of the repository runs is in deps/deps.txt.
func TestExecDeps(t *testing.T) {
	root := ".."
	gofiles, scripts := repoFiles(t, root)
	if len(gofiles) < 50 || scripts["Makefile"] == nil || scripts["scripts/deps.sh"] == nil {
		t.Fatalf("found only %d Go files and scripts %v: wrong root?", len(gofiles), keys(scripts))
	}
	found, err := scanGo("github.com/clusterf/clusterf", root, gofiles, scanShell)
	if err != nil {
		t.Fatal(err)
	}
	found = append(found, allScripts(scripts)...)
	progs := map[string]bool{}
	for _, f := range found {
		progs[f.prog] = true
	}
	// The scanner sees through wrappers and launchers: these are run only
	// that way (mustRun(..., "git"), nsenter ... -- curl, ip netns exec
	// NS tc, needTool(t, "litmus", ...)).
	for _, p := range []string{"git", "curl", "tc", "litmus", "fusermount3", "ip", "rsync", "mount.davfs", "cadaver"} {
		if !progs[p] {
			t.Errorf("the scanner did not find %s among the programs run: %v", p, keys(progs))
		}
	}
	isScript := func(p string) bool {
		_, err := os.Stat(filepath.Join(root, p))
		return err == nil
	}
	for _, b := range unlisted(found, Commands(), isScript, dynamicSites) {
		t.Error(b)
	}
	t.Logf("%d exec sites and script commands, %d distinct programs", len(found), len(progs))
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestCheckerCatches: the checker reports programs the list lacks, seen
// through constants, wrappers, launchers and scripts.
func TestCheckerCatches(t *testing.T) {
	src := `package x

import (
	"context"
	"os"
	"os/exec"
)

const tool = "frobnicate"

func wrap() []string { return []string{"nsenter", "--net=/run/netns/a", "--"} }

func run(dir, name string, args ...string) error {
	return exec.CommandContext(context.Background(), name, args...).Run()
}

func mustRun(name string, args ...string) { _ = run("", name, args...) }

func uses(x string) {
	exec.Command(tool).Run()
	mustRun("zork", "-v")
	argv := append(wrap(), "curl")
	argv = append(argv, "-s")
	exec.Command(argv[0], argv[1:]...).Run()
	exec.Command("sh", "-c", "wibble | grep x").Run()
	exec.Command("ip", "netns", "exec", "ns1", "gronk", "up").Run()
	exec.LookPath("listed")
	y := os.Getenv("Y")
	exec.Command(y).Run()
	exec.Command(x).Run() // x: uses is a wrapper with no callers
}
`
	found, err := scanGo("example.com/x", ".", map[string][]byte{"x/x.go": []byte(src)}, scanShell)
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nset -eu\nf() { echo hi; }\n# comment: notaprog\nfor t in a b; do command -v \"$t\"; done\n" +
		"x=$(blorp --x) && f\narr=(notaprog b)\ncase $1 in\n  run) squee ;;\nesac\ncat <<EOF\nnotaprog either\nEOF\n\"$GO\" build | quux\n"
	found = append(found, scanShell(script, "s.sh", 1, "")...)
	listed := map[string]Dep{"listed": {}, "nsenter": {}, "ip": {}}
	got := unlisted(found, listed, func(string) bool { return false }, map[string][]string{"gone.go:f": {"x"}})
	want := []string{
		"dynamicSites has \"gone.go:f\", but no dynamic exec site is there any more: remove it",
		"s.sh:14: runs quux, which deps/deps.txt does not list",
		"s.sh:6: runs blorp, which deps/deps.txt does not list",
		"s.sh:9: runs squee, which deps/deps.txt does not list",
		"x/x.go:20: runs frobnicate, which deps/deps.txt does not list",
		"x/x.go:24: runs curl, which deps/deps.txt does not list",
		"x/x.go:25: runs wibble, which deps/deps.txt does not list",
		"x/x.go:26: runs gronk, which deps/deps.txt does not list",
		"x/x.go:29: the program run in uses is computed at run time: add \"x/x.go:uses\" to dynamicSites in deps/deps_test.go with the programs it runs",
		"x/x.go:21: runs zork, which deps/deps.txt does not list",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("checker found:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestList: deps.txt parses and its lines are usable by scripts/deps.sh.
func TestList(t *testing.T) {
	l := List()
	if len(l) < 10 {
		t.Fatalf("deps.txt has %d entries", len(l))
	}
	for _, bad := range []string{"x y", "x y z w", "a b test x\na c run y"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted it", bad)
		}
	}
	if _, ok := Commands(Run)["fusermount3"]; !ok {
		t.Error("fusermount3 is not a run dependency")
	}
}

// TestCIRunsTheREADME: .ci/run runs only `make test` (no install steps of
// its own), the README's test command, and deps.sh reads deps.txt.
func TestCIRunsTheREADME(t *testing.T) {
	ci, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, l := range strings.Split(string(ci), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "set ") && !strings.HasPrefix(l, "cd ") {
			cmds = append(cmds, l)
		}
	}
	if strings.Join(cmds, ";") != "make test" {
		t.Errorf(".ci/run runs %q, want only the README's \"make test\"", cmds)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "\nmake test") {
		t.Error("README.md has no `make test` command line")
	}
	sh, err := os.ReadFile("../scripts/deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sh), "deps/deps.txt") {
		t.Error("scripts/deps.sh does not read deps/deps.txt")
	}
}
