package doctor

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func want(t *testing.T, r Result, level Level, detail string) {
	t.Helper()
	if r.Level != level || !strings.Contains(r.Detail, detail) {
		t.Errorf("%s: got %v %q (fix %q), want %v containing %q", r.Name, r.Level, r.Detail, r.Fix, level, detail)
	}
	if (level == Fail || level == Warn) && r.Fix == "" && !strings.Contains(r.Detail, "cannot read") {
		t.Errorf("%s: %v without a fix: %q", r.Name, level, r.Detail)
	}
}

func TestFuseDevice(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fuse")
	os.WriteFile(file, nil, 0o666)
	cases := []struct {
		name, dev string
		level     Level
		detail    string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope"), Fail, "missing"},
		{"regular file", file, Fail, "not a character device"},
		{"char device", "/dev/null", OK, "readable and writable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want(t, checkFuseDevice(Config{FuseDevice: c.dev}.withDefaults()), c.level, c.detail)
		})
	}
}

func TestFusermount(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "fusermount3")
	os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o755)
	setuid := filepath.Join(t.TempDir(), "fusermount3")
	os.WriteFile(setuid, []byte("#!/bin/sh\n"), 0o755)
	if err := os.Chmod(setuid, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	at := func(p string) func(string) (string, error) {
		return func(string) (string, error) {
			if p == "" {
				return "", errors.New("not found")
			}
			return p, nil
		}
	}
	cases := []struct {
		name   string
		path   string
		root   bool
		level  Level
		detail string
	}{
		{"missing as root", "", true, Warn, "fallback for unmounting"},
		{"missing as user", "", false, Fail, "needs it to mount"},
		{"present as root", plain, true, OK, plain},
		{"not setuid as user", plain, false, Fail, "not setuid"},
		{"setuid as user", setuid, false, OK, "other users cannot see"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want(t, checkFusermount(Config{LookPath: at(c.path), Root: c.root}.withDefaults()), c.level, c.detail)
		})
	}
}

func TestDataDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o777)
	cases := []struct {
		name, dataDir string
		level         Level
		detail        string
	}{
		{"existing", dir, OK, "is writable"},
		{"to be created", filepath.Join(dir, "a", "b"), OK, "will be created"},
		{"a file", file, Fail, "not a directory"},
		{"world-writable", open, Warn, "writable by every user"},
		// /proc refuses new files even for root.
		{"not writable", "/proc/clusterf-doctor-test", Fail, "not writable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs := checkDataDir(Config{DataDir: c.dataDir}.withDefaults())
			want(t, rs[0], c.level, c.detail)
			if len(rs) != 2 || rs[1].Name != "free space" {
				t.Fatalf("want a free space result after the data dir, got %+v", rs)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("the write test left files behind in %s: %v", dir, ents)
	}
}

func TestSpaceLevel(t *testing.T) {
	cases := []struct {
		free, reserve int64
		level         Level
		detail        string
	}{
		{1 << 20, 16 << 20, Fail, "file writes fail below 16.0 MiB"},
		{100 << 20, 16 << 20, Warn, "100.0 MiB free"},
		{5 << 30, 16 << 20, OK, "5.0 GiB free"},
		{0, 0, Warn, "0 bytes free"},
	}
	for _, c := range cases {
		l, d, fix := spaceLevel(c.free, c.reserve, "/x")
		want(t, Result{Name: "free space", Level: l, Detail: d, Fix: fix}, c.level, c.detail)
	}
}

func TestMountPoint(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	cases := []struct {
		name, mount string
		level       Level
		detail      string
	}{
		{"missing", filepath.Join(dir, "nope"), Fail, "does not exist"},
		{"a file", file, Fail, "not a directory"},
		{"empty dir", dir, OK, "is a directory"},
		{"something mounted", "/proc", Warn, "already has a mount (proc)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want(t, checkMount(Config{Mount: c.mount}.withDefaults()), c.level, c.detail)
		})
	}
}

// TestBroadcast runs the real check on loopback only: the packet to
// 127.0.0.1 comes back; bound to 127.0.0.2 the socket never sees it.
func TestBroadcast(t *testing.T) {
	cases := []struct {
		name       string
		port       int
		listenHost string
		level      Level
		detail     string
	}{
		{"discovery off", 0, "", Info, "discovery is off"},
		{"comes back", freeUDPPort(t), "", OK, "and received it"},
		{"dropped", freeUDPPort(t), "127.0.0.2", Warn, "did not come back"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{DiscoveryPort: c.port, BroadcastAddr: "127.0.0.1", ListenHost: c.listenHost, BroadcastWait: 300 * time.Millisecond}
			want(t, checkBroadcast(context.Background(), cfg.withDefaults()), c.level, c.detail)
		})
	}
	t.Run("port held without SO_REUSEPORT", func(t *testing.T) {
		hold, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer hold.Close()
		cfg := Config{DiscoveryPort: hold.LocalAddr().(*net.UDPAddr).Port, BroadcastAddr: "127.0.0.1", ListenHost: "127.0.0.1"}
		want(t, checkBroadcast(context.Background(), cfg.withDefaults()), Warn, "cannot listen")
	})
}

func TestClock(t *testing.T) {
	at := func(y int) func() time.Time {
		return func() time.Time { return time.Date(y, 3, 1, 0, 0, 0, 0, time.UTC) }
	}
	sync := func(s, k bool) func() (bool, bool) { return func() (bool, bool) { return s, k } }
	cases := []struct {
		name   string
		now    func() time.Time
		synced func() (bool, bool)
		level  Level
		detail string
	}{
		{"1970", at(1970), sync(true, true), Fail, "1970-03-01"},
		{"synced", at(2026), sync(true, true), OK, "synchronized"},
		{"not synced", at(2026), sync(false, true), Warn, "discovery ignores nodes more than 5m off"},
		{"unknown", at(2026), sync(false, false), Info, "cannot tell"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Now: c.now, ClockSynced: c.synced, MaxSkew: 5 * time.Minute}
			want(t, checkClock(cfg.withDefaults()), c.level, c.detail)
		})
	}
	if _, known := clockSynced(); !known {
		t.Error("adjtimex could not read the kernel's NTP state")
	}
}

func TestFeature(t *testing.T) {
	f := Feature{Command: "ffmpeg", Package: "ffmpeg", NeededBy: "media transcoding"}
	found := func(string) (string, error) { return "/usr/bin/ffmpeg", nil }
	missing := func(string) (string, error) { return "", errors.New("no") }
	want(t, checkFeature(Config{LookPath: found}, f), OK, "/usr/bin/ffmpeg (for media transcoding)")
	want(t, checkFeature(Config{LookPath: missing}, f), Info, "needed only by media transcoding")
}

func TestPrint(t *testing.T) {
	cases := []struct {
		name string
		rs   []Result
		last string
	}{
		{"all ok", []Result{{Name: "a", Level: OK}, {Name: "b", Level: Info}}, "all required checks passed"},
		{"warnings", []Result{{Name: "a", Level: Warn, Fix: "do x"}, {Name: "b", Level: Warn, Fix: "do y"}}, "all required checks passed (2 warnings)"},
		{"one failure", []Result{{Name: "a", Level: Fail, Fix: "do x"}}, "1 required check failed: fix it above"},
		{"two failures", []Result{{Name: "a", Level: Fail}, {Name: "b", Level: Fail}}, "2 required checks failed: fix them above"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			Print(&b, c.rs)
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			if got := lines[len(lines)-1]; !strings.HasPrefix(got, c.last) {
				t.Errorf("last line %q, want %q\n%s", got, c.last, b.String())
			}
			if Failed(c.rs) != strings.Contains(c.last, "failed") {
				t.Errorf("Failed = %v for %s", Failed(c.rs), c.name)
			}
			for _, r := range c.rs {
				if r.Fix != "" && !strings.Contains(b.String(), "fix: "+r.Fix) {
					t.Errorf("fix %q not printed:\n%s", r.Fix, b.String())
				}
			}
		})
	}
}

// TestCheckLoopback runs every check with a loopback broadcast and a temp
// data dir: each check reports once, in order.
func TestCheckLoopback(t *testing.T) {
	rs := Check(context.Background(), Config{
		DataDir: t.TempDir(), Mount: t.TempDir(), DiscoveryPort: freeUDPPort(t),
		BroadcastAddr: "127.0.0.1", Reserve: 16 << 20, MaxSkew: 5 * time.Minute,
		Features: []Feature{{Command: "clusterf-no-such-program", Package: "x", NeededBy: "nothing"}},
	})
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	got := strings.Join(names, ",")
	if w := "/dev/fuse,fusermount3,data dir,free space,mount point,UDP broadcast,clock,clusterf-no-such-program"; got != w {
		t.Fatalf("checks %s, want %s", got, w)
	}
	for _, r := range rs {
		if r.Name == "UDP broadcast" || r.Name == "data dir" || r.Name == "mount point" {
			want(t, r, OK, "")
		}
	}
}
