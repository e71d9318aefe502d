package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Security tests of issue 8 that run the real binary (unit tests of the
// same rules live in api/, webdav/, transport/ and discovery/).

// TestSecurityKeylessNodeNotAdmitted: a node with no cluster key (open LAN
// mode) that names a keyed member directly neither joins, reads nor writes
// (TestClusterWrongKeyNeverAdmitted covers a wrong key).
func TestSecurityKeylessNodeNotAdmitted(t *testing.T) {
	net := NewNet(t, 3)
	a := startClusterNode(t, net.Hosts[0], "sa", clusterKey, "--quic-port", "7000")
	b := startClusterNode(t, net.Hosts[1], "sb", clusterKey)
	open := startClusterNode(t, net.Hosts[2], "open", "", "--peers", net.Hosts[0].IP+":7000")
	secret := []byte("members only\n")
	writeFileSync(t, filepath.Join(a.Mountpoint(), "secret.txt"), secret, 0o644)
	writeFileSync(t, filepath.Join(open.Mountpoint(), "planted.txt"), []byte("x"), 0o644)
	eventually(t, 20*time.Second, "members replicate", contentIs(filepath.Join(b.Mountpoint(), "secret.txt"), secret))
	time.Sleep(8 * time.Second) // several discovery rounds
	if got := names(open.Mountpoint()); slices.Contains(got, "secret.txt") {
		t.Fatalf("keyless node got member data: %v", got)
	}
	for _, m := range []*Node{a, b} {
		if got := names(m.Mountpoint()); slices.Contains(got, "planted.txt") {
			t.Fatalf("%s accepted data from the keyless node: %v", m.NodeID(), got)
		}
	}
}

// curlFrom runs curl in h's namespace and returns the HTTP status code.
func curlFrom(t *testing.T, h *Host, args ...string) string {
	t.Helper()
	out, err := h.Curl(30*time.Second, append([]string{"-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20"}, args...)...)
	if err != nil {
		t.Fatalf("curl from %s: %v", h.Name, err)
	}
	return strings.TrimSpace(out)
}

// TestSecurityHTTPTokenBeyondLoopback: HTTP on a non-loopback address needs
// the bearer token (generated into the data dir); --http-insecure lifts
// that, loudly. Requests come from another host of the test network.
func TestSecurityHTTPTokenBeyondLoopback(t *testing.T) {
	net := NewNet(t, 3)
	server, client := net.Hosts[0], net.Hosts[2]
	n := StartNode(t, NodeOptions{NodeID: "tok", Wrap: server.Wrap(),
		ExtraArgs: []string{"--http-addr", "0.0.0.0", "--http-port", "8080"}})
	tokenBytes, err := os.ReadFile(filepath.Join(n.NodeDir(), "http-token"))
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	token := strings.TrimSpace(string(tokenBytes))
	base := "http://" + server.IP + ":8080/api/files/"
	writeFileSync(t, filepath.Join(n.Mountpoint(), "private.txt"), []byte("private\n"), 0o644)

	if code := curlFrom(t, client, base); code != "401" {
		t.Errorf("GET %s without a token: %s, want 401", base, code)
	}
	if code := curlFrom(t, client, base+"private.txt"); code != "401" {
		t.Errorf("GET a file without a token: %s, want 401", code)
	}
	if code := curlFrom(t, client, "-H", "Authorization: Bearer wrong-"+token, base+"private.txt"); code != "401" {
		t.Errorf("GET with a wrong token: %s, want 401", code)
	}
	if code := curlFrom(t, client, "-X", "PUT", "--data-binary", "evil", base+"planted.txt"); code != "401" {
		t.Errorf("PUT without a token: %s, want 401", code)
	}
	if _, err := os.Stat(filepath.Join(n.Mountpoint(), "planted.txt")); err == nil {
		t.Errorf("an unauthenticated PUT created a file")
	}
	if code := curlFrom(t, client, "-H", "Authorization: Bearer "+token, base); code != "200" {
		t.Errorf("GET with the token: %s, want 200", code)
	}
	if code := curlFrom(t, client, "-H", "Authorization: Bearer "+token, "-X", "PUT", "--data-binary", "ok", base+"allowed.txt"); code != "201" {
		t.Errorf("PUT with the token: %s, want 201", code)
	}

	// --http-insecure: no token needed (the operator's explicit choice).
	ins := net.Hosts[1]
	StartNode(t, NodeOptions{NodeID: "ins", Wrap: ins.Wrap(),
		ExtraArgs: []string{"--http-addr", "0.0.0.0", "--http-port", "8080", "--http-insecure"}})
	if code := curlFrom(t, client, "http://"+ins.IP+":8080/api/files/"); code != "200" {
		t.Errorf("--http-insecure: GET without a token: %s, want 200", code)
	}
}

// TestSecurityRESTTraversalEndToEnd: an encoded ".." in a REST path is
// refused with 400 and creates nothing, inside or outside the filesystem.
func TestSecurityRESTTraversalEndToEnd(t *testing.T) {
	net := NewNet(t, 1)
	h := net.Hosts[0]
	parent := t.TempDir()
	mnt := filepath.Join(parent, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	n := StartNode(t, NodeOptions{NodeID: "trav", Wrap: h.Wrap(), Mountpoint: mnt,
		ExtraArgs: []string{"--http-port", "8080"}})
	if err := os.Mkdir(filepath.Join(n.Mountpoint(), "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"sub/%2e%2e/%2e%2e/escape.txt",
		"%2e%2e/escape.txt",
		"sub/..%2fescape.txt",
		"sub/%2E%2E%2F%2E%2E%2Fescape.txt",
	} {
		code := curlFrom(t, h, "--path-as-is", "-X", "PUT", "--data-binary", "escaped", "http://127.0.0.1:8080/api/files/"+p)
		if code != "400" {
			t.Errorf("PUT /api/files/%s: %s, want 400", p, code)
		}
	}
	for _, dir := range []string{n.Mountpoint(), filepath.Join(n.Mountpoint(), "sub"), parent, n.DataDir(), n.NodeDir()} {
		if _, err := os.Lstat(filepath.Join(dir, "escape.txt")); err == nil {
			t.Errorf("traversal created %s", filepath.Join(dir, "escape.txt"))
		}
	}
	if got := names(n.Mountpoint()); !slices.Equal(got, []string{"sub"}) {
		t.Errorf("root after traversal attempts: %v, want [sub]", got)
	}
}
