package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Search (issue 15) over real processes: the CLI against a node, and a
// 3-node cluster in network namespaces where a file written on A is
// found by a query on C, its content included.

type searchAnswer struct {
	Total   int `json:"total"`
	Results []struct {
		Path    string `json:"path"`
		Snippet string `json:"snippet"`
	} `json:"results"`
}

type searchStatus struct {
	Documents       int `json:"documents"`
	ExtractedLocal  int `json:"extracted_local"`
	ExtractedRemote int `json:"extracted_remote"`
	Served          int `json:"extractions_served"`
	Pending         int `json:"pending_extractions"`
}

// TestCLISearch: `clusterf search` prints the node's results; a bad
// query exits 1 with the node's reason, a missing --http-port is a usage
// error.
func TestCLISearch(t *testing.T) {
	port := freeTCPPort(t)
	n := StartNode(t, NodeOptions{ExtraArgs: []string{"--http-port", strconv.Itoa(port)}})
	p := strconv.Itoa(port)
	writeFileSync(t, filepath.Join(n.Mountpoint(), "Vacation_2024-07.txt"), []byte("we saw a heron at the lake"), 0o644)
	writeFileSync(t, filepath.Join(n.Mountpoint(), "summer vacation.md"), []byte("sunscreen list"), 0o644)
	var r RunResult
	eventually(t, 10*time.Second, "both files found by the CLI", func() string {
		r = RunBinary(t, 20*time.Second, "search", "vacation", "--http-port", p)
		if r.ExitCode != 0 || !strings.Contains(r.Stdout, "/Vacation_2024-07.txt") || !strings.Contains(r.Stdout, "/summer vacation.md") ||
			!strings.Contains(r.Stdout, "2 results") {
			return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.ExitCode, r.Stdout, r.Stderr)
		}
		return ""
	})
	t.Logf("clusterf search vacation:\n%s", r.Stdout)
	r = RunBinary(t, 20*time.Second, "search", "heron", "--http-port", p)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "we saw a heron") {
		t.Errorf("content search: exit %d, %q %q", r.ExitCode, r.Stdout, r.Stderr)
	}
	r = RunBinary(t, 20*time.Second, "search", "heron", "--json", "--http-port", p)
	var ans searchAnswer
	if err := json.Unmarshal([]byte(r.Stdout), &ans); err != nil || ans.Total != 1 {
		t.Errorf("--json: %v %q", err, r.Stdout)
	}
	for _, c := range []struct {
		args    []string
		code    int
		mention string
	}{
		{[]string{"search", "size:>lots", "--http-port", p}, 1, "is not a size"},
		{[]string{"search", "x", "--sort", "color", "--http-port", p}, 1, "sort must be"},
		{[]string{"search", "x"}, 2, "--http-port"},
		{[]string{"search", "--http-port", p}, 2, ""},
	} {
		r := RunBinary(t, 20*time.Second, c.args...)
		if r.ExitCode != c.code || !strings.Contains(r.Stderr, c.mention) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, r.ExitCode, r.Stderr, c.code, c.mention)
		}
	}
}

// searchFrom runs GET /api/search on the node of host h.
func searchFrom(t testing.TB, h *Host, q string) searchAnswer {
	t.Helper()
	var a searchAnswer
	out := apiCall(t, h, "GET", "/api/search?limit=1000&q="+url.QueryEscape(q), "")
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("search %q: %v: %s", q, err, out)
	}
	return a
}

func TestSearchCluster(t *testing.T) {
	net := NewNet(t, 3)
	var nodes []*Node
	for i, h := range net.Hosts {
		nodes = append(nodes, startReplNode(t, h, fmt.Sprintf("s%d", i)))
	}
	a, c := nodes[0], nodes[2]
	ha, hc := net.Hosts[0], net.Hosts[2]
	eventually(t, 30*time.Second, "three members up", func() string {
		// Not apiCall: on a loaded machine the first requests may come
		// before the listener answers; that is "not yet", not a failure.
		args := append(ha.Wrap(), "curl", "-sS", "-f", "http://127.0.0.1:8080/status")
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil || strings.Count(string(out), `"connected":true`) < 2 {
			return fmt.Sprintf("%v: %s", err, out)
		}
		return ""
	})
	// RF 1: each chunk is on one node, so C holds only part of what A
	// writes and gets the rest of the content indexed by its holders.
	apiCall(t, ha, "PUT", "/api/replication-factor", `{"replication_factor": 1}`)
	eventually(t, 10*time.Second, "RF 1 on C", func() string {
		if out := apiCall(t, hc, "GET", "/api/replication-factor", ""); !strings.Contains(out, `:1}`) {
			return out
		}
		return ""
	})
	const files = 16
	if err := os.Mkdir(filepath.Join(a.Mountpoint(), "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		word := fmt.Sprintf("marsh%02dword", i)
		body := append([]byte("field notes: "+word+" "), bytes.Repeat([]byte("reeds and rushes "), 1000)...) // 17 KiB: chunked
		writeFileSync(t, filepath.Join(a.Mountpoint(), "notes", fmt.Sprintf("Heron_Survey-%02d.txt", i)), body, 0o644)
	}
	byName := eventually(t, 30*time.Second, "A's files found by name on C", func() string {
		if got := searchFrom(t, hc, "heron survey"); got.Total != files {
			return fmt.Sprintf("%d of %d", got.Total, files)
		}
		return ""
	})
	byContent := eventually(t, 60*time.Second, "A's files found by content on C", func() string {
		for i := range files {
			got := searchFrom(t, hc, fmt.Sprintf("marsh%02dword", i))
			if got.Total != 1 || !strings.Contains(got.Results[0].Snippet, fmt.Sprintf("marsh%02dword reeds", i)) {
				return fmt.Sprintf("marsh%02dword: %+v", i, got)
			}
		}
		return ""
	})
	t.Logf("%d files written on A: found on C by name after %v, by content after %v (including the writes)", files, byName, byContent)
	var st searchStatus
	if err := json.Unmarshal([]byte(apiCall(t, hc, "GET", "/api/search/status", "")), &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("C's index: %+v", st)
	if st.ExtractedRemote < 1 {
		t.Errorf("C extracted everything itself with RF 1 (%+v): the remote path was not exercised", st)
	}
	served := 0
	for _, h := range net.Hosts[:2] {
		var s searchStatus
		json.Unmarshal([]byte(apiCall(t, h, "GET", "/api/search/status", "")), &s)
		served += s.Served
	}
	if served < st.ExtractedRemote {
		t.Errorf("A and B served %d extractions, C got %d", served, st.ExtractedRemote)
	}
	// A rename on C is seen by A's index; the CLI inside A's namespace
	// finds it.
	if err := os.Rename(filepath.Join(c.Mountpoint(), "notes", "Heron_Survey-00.txt"), filepath.Join(c.Mountpoint(), "notes", "Egret_Count.txt")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "rename on C found on A", func() string {
		got := searchFrom(t, ha, "marsh00word")
		if got.Total != 1 || got.Results[0].Path != "/notes/Egret_Count.txt" {
			return fmt.Sprintf("%+v", got)
		}
		return ""
	})
	args := append(ha.Wrap(), Binary(t), "search", "egret", "--http-port", "8080")
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/notes/Egret_Count.txt") {
		t.Errorf("clusterf search on A: %v\n%s", err, out)
	}
}
