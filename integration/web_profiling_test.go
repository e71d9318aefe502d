package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestProfilingFlag: `clusterf mount --profiling` records a CPU profile
// from the start (it used to answer "not implemented"); the /profiling
// page's endpoints see it, stop it and hand out the pprof file.
func TestProfilingFlag(t *testing.T) {
	net := NewNet(t, 1)
	h := net.Hosts[0]
	StartNode(t, NodeOptions{NodeID: "prof", Wrap: h.Wrap(), ExtraArgs: []string{"--http-port", "8080", "--profiling"}})
	base := NSProxy(t, h, "127.0.0.1:8080")
	client := &http.Client{Timeout: 30 * time.Second}
	type state struct {
		Running bool   `json:"running"`
		Reason  string `json:"reason"`
		Last    *struct {
			Bytes int `json:"bytes"`
		} `json:"last"`
	}
	call := func(method, path string) state {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st state
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&st) != nil {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
		return st
	}
	// StartNode returns at the mount; HTTP may come a moment later.
	eventually(t, 30*time.Second, "HTTP up", func() string {
		resp, err := client.Get(base + "/api/profiling")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		return ""
	})
	if st := call("GET", "/api/profiling"); !st.Running || st.Reason != "--profiling" {
		t.Fatalf("after a start with --profiling: %+v, want running since --profiling", st)
	}
	if st := call("POST", "/api/profiling/cpu/stop"); st.Running || st.Last == nil || st.Last.Bytes == 0 {
		t.Fatalf("stopped: %+v", st)
	}
	resp, err := client.Get(base + "/api/profiling/cpu.pprof")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b { // pprof files are gzipped protobuf
		t.Fatalf("cpu.pprof: %s, %d bytes", resp.Status, len(b))
	}
}
