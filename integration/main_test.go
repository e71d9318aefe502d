package integration

import (
	"fmt"
	"os"
	"testing"
)

// TestMain builds the binary once and checks that no test leaked a mount.
// Started as a child of the POSIX differential driver (posixdiff.go), it
// runs that child's syscalls instead.
func TestMain(m *testing.M) {
	if os.Getenv(PosixDiffChildEnv) != "" { // a child of the POSIX differential driver
		os.Exit(RunPosixDiffChild())
	}
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
