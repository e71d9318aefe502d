package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestRemoteChangesInvalidateKernelCaches: with kernel entry and attribute
// caches of an hour, a change made on another node still shows on this
// mount within seconds, so it can only come from the mount following the
// core's change feed (notify calls), not from a cache timing out.
func TestRemoteChangesInvalidateKernelCaches(t *testing.T) {
	net := NewNet(t, 2)
	a := startClusterNode(t, net.Hosts[0], "inv-a", clusterKey, "--test-cache-timeout", "1h")
	b := startClusterNode(t, net.Hosts[1], "inv-b", clusterKey, "--test-cache-timeout", "1h")
	pa, pb := filepath.Join(a.Mountpoint(), "f"), filepath.Join(b.Mountpoint(), "f")
	writeFileSync(t, pa, []byte("v1"), 0o644)
	eventually(t, 20*time.Second, "f on B", contentIs(pb, []byte("v1")))
	// B's kernel now caches f's entry, attributes and the root listing.
	names(b.Mountpoint())
	v2 := bytes.Repeat([]byte("version 2 "), 1000)
	writeFileSync(t, pa, v2, 0o644)
	eventually(t, 20*time.Second, "new size and content on B", func() string {
		fi, err := os.Stat(pb)
		if err != nil {
			return err.Error()
		}
		if fi.Size() != int64(len(v2)) {
			return fmt.Sprintf("size %d, want %d", fi.Size(), len(v2))
		}
		return contentIs(pb, v2)()
	})
	if err := os.Rename(pa, filepath.Join(a.Mountpoint(), "g")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "rename on B", func() string {
		if got := names(b.Mountpoint()); !slices.Equal(got, []string{"g"}) {
			return fmt.Sprintf("listing %v", got)
		}
		if _, err := os.Stat(pb); err == nil {
			return "old name still stats"
		}
		return ""
	})
}
