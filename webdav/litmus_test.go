package webdav

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// litmusSummary matches litmus's per-suite summary line, e.g.
// "<- summary for `basic': of 16 tests run: 16 passed, 0 failed. 100.0%".
var litmusSummary = regexp.MustCompile("<- summary for `([a-z]+)': of ([0-9]+) tests run: ([0-9]+) passed, ([0-9]+) failed")

// litmusWarnings matches "-> 1 warning was issued." / "-> 3 warnings were issued."
var litmusWarnings = regexp.MustCompile(`-> ([0-9]+) warnings? (?:was|were) issued`)

// TestLitmus runs every litmus suite against the handler and fails on any
// failed test. Warnings are logged with the lines that explain them.
func TestLitmus(t *testing.T) {
	litmus := needTool(t, "litmus", "litmus")
	ts := newTestServer(t, nil, "/litmus")
	suites := []string{"basic", "copymove", "props", "locks", "http"}
	// litmus writes debug.log and child.log into its working directory.
	out, err := runIn(t, t.TempDir(), 2*time.Minute, "", []string{"TESTS=" + strings.Join(suites, " "), "HOME=" + t.TempDir()},
		litmus, "--keep-going", ts.url)
	t.Logf("litmus output:\n%s", out)
	if err != nil {
		t.Errorf("litmus: %v", err)
	}
	seen := map[string]bool{}
	for _, m := range litmusSummary.FindAllStringSubmatch(out, -1) {
		suite := m[1]
		runN, _ := strconv.Atoi(m[2])
		passed, _ := strconv.Atoi(m[3])
		failed, _ := strconv.Atoi(m[4])
		seen[suite] = true
		t.Logf("litmus %s: %d run, %d passed, %d failed", suite, runN, passed, failed)
		if failed > 0 || passed != runN {
			t.Errorf("litmus %s: %d of %d tests failed", suite, failed, runN)
		}
	}
	for _, s := range suites {
		if !seen[s] {
			t.Errorf("litmus: no summary for suite %s", s)
		}
	}
	for _, m := range litmusWarnings.FindAllStringSubmatch(out, -1) {
		t.Logf("litmus warning count: %s", m[0])
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "WARNING:") {
			t.Logf("litmus %s", strings.TrimSpace(line))
		}
	}
}
