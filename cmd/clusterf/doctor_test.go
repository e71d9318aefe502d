package main

import (
	"bytes"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDoctorCommand runs the real `clusterf doctor` with its broadcast on
// loopback (never the machine's interfaces): it passes on a machine that
// can run a node (CI: root, /dev/fuse, fuse3 from deps.txt) and exits 1
// naming the failure when the mount point is missing.
func TestDoctorCommand(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
	c.Close()
	data, mnt := t.TempDir(), t.TempDir()
	loop := []string{"doctor", "--data-dir", data, "--discovery-port", port, "--broadcast-addr", "127.0.0.1"}
	cases := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"ready", append(loop, mnt), 0, []string{
			"ok    /dev/fuse", "ok    data dir", "ok    mount point", "ok    UDP broadcast      sent one packet to 127.0.0.1:" + port + " and received it",
			"all required checks passed"}},
		{"no mount point", append(loop, filepath.Join(mnt, "nope")), 1, []string{
			"FAIL  mount point", "fix: mkdir -p", "1 required check failed"}},
		{"two mount points", append(loop, "a", "b"), 2, []string{"accepts at most 1 arg"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(c.args, &out, &errb)
			all := out.String() + errb.String()
			if code != c.code {
				t.Fatalf("exit %d, want %d:\n%s", code, c.code, all)
			}
			for _, w := range c.contains {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
		})
	}
}
