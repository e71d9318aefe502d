package integration

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSecurityHTTPHostAndOrigin: the real binary refuses a DNS-rebinding
// Host and cross-origin writes (issue 11), answers names given with
// --http-allowed-hosts (here through its environment variable), and keeps
// serving curl and WebDAV clients, which send no Origin.
func TestSecurityHTTPHostAndOrigin(t *testing.T) {
	net := NewNet(t, 1)
	h := net.Hosts[0]
	n := StartNode(t, NodeOptions{NodeID: "web", Wrap: h.Wrap(),
		ExtraArgs: []string{"--http-port", "8080"},
		Env:       []string{"CLUSTERF_HTTP_ALLOWED_HOSTS=nas.example,*.lan.example"}})
	base := "http://127.0.0.1:8080"
	writeFileSync(t, filepath.Join(n.Mountpoint(), "doc.txt"), []byte("doc\n"), 0o644)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"rebinding GET", []string{"-H", "Host: evil.example:8080", base + "/api/files/doc.txt"}, "403"},
		{"rebinding PUT", []string{"-H", "Host: evil.example:8080", "-X", "PUT", "--data-binary", "x", base + "/api/files/rebound.txt"}, "403"},
		{"rebinding WebDAV", []string{"-H", "Host: evil.example", "-X", "PROPFIND", "-H", "Depth: 1", base + "/webdav/"}, "403"},
		{"cross-origin PUT", []string{"-H", "Origin: http://evil.example", "-X", "PUT", "--data-binary", "x", base + "/api/files/csrf.txt"}, "403"},
		{"cross-origin DELETE", []string{"-H", "Origin: http://evil.example", "-X", "DELETE", base + "/api/files/doc.txt"}, "403"},
		{"cross-site mkdir", []string{"-H", "Sec-Fetch-Site: cross-site", "-X", "POST", "-H", "X-Create-Directory: true", base + "/api/files/csrfdir"}, "403"},
		{"cross-origin MKCOL", []string{"-H", "Origin: null", "-X", "MKCOL", base + "/webdav/csrfcol"}, "403"},
		{"allowed host", []string{"-H", "Host: nas.example:8080", base + "/api/files/doc.txt"}, "200"},
		{"allowed wildcard", []string{"-H", "Host: box.lan.example", base + "/status"}, "200"},
		{"localhost", []string{"http://localhost:8080/api/files/doc.txt"}, "200"},
		{"same-origin PUT", []string{"-H", "Origin: http://127.0.0.1:8080", "-X", "PUT", "--data-binary", "ok", base + "/api/files/same.txt"}, "201"},
		{"no-origin PUT", []string{"-X", "PUT", "--data-binary", "ok", base + "/api/files/plain.txt"}, "201"},
		{"no-origin MKCOL", []string{"-X", "MKCOL", base + "/webdav/col"}, "201"},
	} {
		if code := curlFrom(t, h, tc.args...); code != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, code, tc.want)
		}
	}
	for _, name := range []string{"rebound.txt", "csrf.txt", "csrfdir", "csrfcol"} {
		if _, err := os.Lstat(filepath.Join(n.Mountpoint(), name)); err == nil {
			t.Errorf("a refused request created %s", name)
		}
	}
	for _, name := range []string{"doc.txt", "same.txt", "plain.txt", "col"} {
		if _, err := os.Lstat(filepath.Join(n.Mountpoint(), name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
