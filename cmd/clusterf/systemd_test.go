package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitBin is the binary path contrib/clusterf.service runs (the README
// installs it there).
const unitBin = "/usr/local/bin/clusterf"

// TestSystemdUnit runs `systemd-analyze verify` (systemd is in
// deps/deps.txt) on contrib/clusterf.service. verify insists that the
// ExecStart binary exists, and a test must not install into /usr/local,
// so the copy it checks runs a freshly built clusterf instead of
// /usr/local/bin/clusterf: that one substitution is the only change.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../../contrib/clusterf.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nExecStart="+unitBin+" mount ${CLUSTERF_MOUNT}\n") {
		t.Fatalf("contrib/clusterf.service does not run %s mount ${CLUSTERF_MOUNT}", unitBin)
	}
	for _, want := range []string{"EnvironmentFile=-/etc/default/clusterf", "Restart=on-failure", "WantedBy=multi-user.target"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("contrib/clusterf.service lacks %q", want)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "clusterf")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tmp := filepath.Join(dir, "clusterf.service")
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(string(unit), unitBin, bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", tmp).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify contrib/clusterf.service: %v\n%s", err, out)
	}

	// The environment file's settings are flags clusterf knows.
	def, err := os.ReadFile("../../contrib/clusterf.default")
	if err != nil {
		t.Fatal(err)
	}
	flags := newRootCmd(nil, nil).PersistentFlags()
	for _, line := range strings.Split(string(def), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "#")
		name, _, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(name, "CLUSTERF_") || strings.Contains(name, " ") || name == "CLUSTERF_MOUNT" {
			continue
		}
		flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "CLUSTERF_"), "_", "-"))
		if flags.Lookup(flag) == nil {
			t.Errorf("contrib/clusterf.default sets %s, but clusterf has no --%s", name, flag)
		}
	}
}
