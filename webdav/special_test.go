package webdav

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// TestSpecialFiles: FIFOs, sockets and devices are listed by PROPFIND with
// their type as the content type; GET, HEAD, PUT and COPY of them are
// refused with 409 and a clear message; MOVE and DELETE work.
func TestSpecialFiles(t *testing.T) {
	ts := newTestServer(t, nil, "/")
	types := map[crdt.Kind]string{crdt.KindFIFO: "inode/fifo", crdt.KindSocket: "inode/socket",
		crdt.KindCharDev: "inode/chardevice", crdt.KindBlockDev: "inode/blockdevice"}
	for k := range types {
		if _, err := ts.fs.Mknod(context.Background(), crdt.RootID, k.String(), k, 0o644, 0x103, replica.Owner{}); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := do(t, "PROPFIND", ts.url, strings.NewReader(`<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>`), "Depth", "1")
	wantStatus(t, "PROPFIND", resp, 207)
	for k, ct := range types {
		if !strings.Contains(string(body), "/webdav/"+k.String()+"<") || !strings.Contains(string(body), ct) {
			t.Errorf("PROPFIND does not list %s with %s:\n%s", k, ct, body)
		}
		for _, m := range []string{"GET", "HEAD", "PUT", "COPY"} {
			resp, b := do(t, m, ts.url+k.String(), strings.NewReader("x"), "Destination", ts.url+"copy")
			wantStatus(t, m+" "+k.String(), resp, http.StatusConflict)
			if m != "HEAD" && !strings.Contains(string(b), "special files have no content") {
				t.Errorf("%s %s: body %q", m, k, b)
			}
		}
		resp, _ := do(t, "MOVE", ts.url+k.String(), nil, "Destination", ts.url+k.String()+"-moved")
		wantStatus(t, "MOVE "+k.String(), resp, http.StatusCreated)
		resp, _ = do(t, "DELETE", ts.url+k.String()+"-moved", nil)
		wantStatus(t, "DELETE "+k.String(), resp, http.StatusNoContent)
	}
}
