//go:build bench

package bench

import (
	"fmt"
	"os"
	"testing"

	"github.com/clusterf/clusterf/integration"
)

// TestMain builds the binary once (only when a benchmark will run) and
// unmounts whatever a failed benchmark left behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if leaked := integration.LeakedMounts(); len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "bench: mounts left behind (now lazily unmounted): %v\n", leaked)
		if code == 0 {
			code = 1
		}
	}
	integration.CleanupBinary()
	os.Exit(code)
}
