package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// TestSpecialFiles: FIFOs, sockets and devices are listed with their kind
// (and a device's number); reading or writing them is 409 with a JSON
// error, deleting and metadata work.
func TestSpecialFiles(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	for _, k := range []crdt.Kind{crdt.KindFIFO, crdt.KindSocket, crdt.KindCharDev, crdt.KindBlockDev} {
		if _, err := e.fs.Mknod(ctx, crdt.RootID, k.String(), k, 0o644, 0x103, replica.Owner{}); err != nil {
			t.Fatal(err)
		}
	}
	var l Listing
	if err := json.Unmarshal(e.want(200, "GET", "/api/files/", nil), &l); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]Metadata{}
	for _, m := range l.Entries {
		kinds[m.Name] = m
	}
	for name, ct := range map[string]string{"fifo": "inode/fifo", "socket": "inode/socket", "char-device": "inode/chardevice", "block-device": "inode/blockdevice"} {
		m := kinds[name]
		if m.Kind != name || m.ContentType != ct || m.IsDirectory || m.Size != 0 {
			t.Errorf("%s listed as %+v", name, m)
		}
		if dev := strings.HasSuffix(name, "device"); (m.Device == "1:3") != dev {
			t.Errorf("%s: device %q", name, m.Device)
		}
		if msg := e.wantErr(409, "GET", "/api/files/"+name, nil); !strings.Contains(msg, "special files have no content") {
			t.Errorf("GET %s: %q", name, msg)
		}
		if msg := e.wantErr(409, "PUT", "/api/files/"+name, strings.NewReader("x")); !strings.Contains(msg, "is a "+name) {
			t.Errorf("PUT %s: %q", name, msg)
		}
		var md Metadata
		if err := json.Unmarshal(e.want(200, "GET", "/api/metadata/"+name, nil), &md); err != nil || md.Kind != name {
			t.Errorf("metadata of %s: %+v %v", name, md, err)
		}
		e.want(204, "DELETE", "/api/files/"+name, nil)
	}
}
