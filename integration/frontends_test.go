package integration

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// freeTCPPort returns a port free on 127.0.0.1 right now.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpDo(t *testing.T, method, url string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestFrontendsSeeOneFilesystem writes through each frontend (REST, FUSE,
// WebDAV) and reads through the others: the bytes are identical, since all
// of them are adapters of the same core.
func TestFrontendsSeeOneFilesystem(t *testing.T) {
	port := freeTCPPort(t)
	n := StartNode(t, NodeOptions{ExtraArgs: []string{"--http-port", strconv.Itoa(port)}})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	mnt := n.Mountpoint()

	viaREST := randomBytes(5<<20+17, 1) // chunked
	if code, body := httpDo(t, "PUT", base+"/api/files/in/rest.bin", viaREST); code != 201 {
		t.Fatalf("REST PUT: %d %s", code, body)
	}
	requireContent(t, filepath.Join(mnt, "in", "rest.bin"), viaREST)
	if code, got := httpDo(t, "GET", base+"/webdav/in/rest.bin", nil); code != 200 || !bytes.Equal(got, viaREST) {
		t.Fatalf("WebDAV GET of a REST upload: %d, %d bytes", code, len(got))
	}

	viaFUSE := randomBytes(3000, 2) // inline
	writeFileSync(t, filepath.Join(mnt, "in", "fuse.txt"), viaFUSE, 0o644)
	for _, url := range []string{base + "/api/files/in/fuse.txt", base + "/webdav/in/fuse.txt"} {
		if code, got := httpDo(t, "GET", url, nil); code != 200 || !bytes.Equal(got, viaFUSE) {
			t.Fatalf("GET %s of a FUSE write: %d, %d bytes", url, code, len(got))
		}
	}

	viaDAV := randomBytes(1<<20, 3)
	if code, body := httpDo(t, "PUT", base+"/webdav/in/dav.bin", viaDAV); code != 201 {
		t.Fatalf("WebDAV PUT: %d %s", code, body)
	}
	requireContent(t, filepath.Join(mnt, "in", "dav.bin"), viaDAV)
	if code, got := httpDo(t, "GET", base+"/api/files/in/dav.bin", nil); code != 200 || !bytes.Equal(got, viaDAV) {
		t.Fatalf("REST GET of a WebDAV upload: %d, %d bytes", code, len(got))
	}
	// The metrics count the FUSE operations that just happened.
	_, metrics := httpDo(t, "GET", base+"/api/metrics", nil)
	for _, want := range []string{`clusterf_fuse_op_duration_seconds_count{op="write"}`, "clusterf_fuse_written_bytes_total 3000", "clusterf_chunks_stored", `clusterf_namespace_inodes{kind="file"} 3`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/api/metrics lacks %s", want)
		}
	}
	// The listing through REST shows what the mount shows.
	_, list := httpDo(t, "GET", base+"/api/files/in/", nil)
	for _, name := range []string{"rest.bin", "fuse.txt", "dav.bin"} {
		if !strings.Contains(string(list), `"name":"`+name+`"`) {
			t.Errorf("REST listing lacks %s: %s", name, list)
		}
	}
}

// TestUpstreamCurlExamples runs the curl examples of the original clusterF
// README against a node (port 8080 replaced by the test's port).
func TestUpstreamCurlExamples(t *testing.T) {
	port := freeTCPPort(t)
	n := StartNode(t, NodeOptions{ExtraArgs: []string{"--http-port", strconv.Itoa(port)}})
	work := t.TempDir()
	photo := randomBytes(200<<10, 4)
	if err := os.WriteFile(filepath.Join(work, "photo.jpg"), photo, 0o644); err != nil {
		t.Fatal(err)
	}
	host := "http://localhost:" + strconv.Itoa(port)
	examples := []string{
		`curl -X PUT --data-binary @photo.jpg ` + host + `/api/files/photos/photo.jpg`,
		`curl ` + host + `/api/files/photos/photo.jpg -o photo2.jpg`,
		`curl ` + host + `/api/files/photos/`,
		`curl "` + host + `/api/search?q=photo"`,
		`curl -X PUT -H "Content-Type: application/json" -d '{"replication_factor": 5}' ` + host + `/api/replication-factor`,
		`curl -X PUT -d '{"partition_sync_interval_seconds": 30}' ` + host + `/api/partition-sync-interval`,
		`curl ` + host + `/status`,
		`curl ` + host + `/api/under-replicated`,
	}
	var outputs []string
	for _, ex := range examples {
		cmd := exec.Command("sh", "-c", ex+" --fail --silent --show-error")
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", ex, err, out)
		}
		outputs = append(outputs, string(out))
	}
	requireContent(t, filepath.Join(work, "photo2.jpg"), photo)
	requireContent(t, filepath.Join(n.Mountpoint(), "photos", "photo.jpg"), photo)
	checks := map[int]string{
		2: `"name":"photo.jpg"`,
		3: `"path":"/photos/photo.jpg"`,
		4: `{"success":true,"replication_factor":5}`,
		5: `"success":true`,
		6: `"replication_factor":5`,
		7: `"partitions":[`,
	}
	for i, want := range checks {
		if !strings.Contains(outputs[i], want) {
			t.Errorf("%s\nanswered %s\nwant it to contain %s", examples[i], outputs[i], want)
		}
	}
}
