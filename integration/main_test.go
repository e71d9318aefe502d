package integration

import (
	"fmt"
	"os"
	"testing"
)

// TestMain builds the binary once and checks that no test leaked a mount.
func TestMain(m *testing.M) {
	if _, err := BuildBinary(); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	code := m.Run()
	if leaked := LeakedMounts(); len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "integration: mounts leaked by tests (now lazily unmounted): %v\n", leaked)
		if code == 0 {
			code = 1
		}
	}
	CleanupBinary()
	os.Exit(code)
}
