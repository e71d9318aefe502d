package deps

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
)

// Scopes of a program: who needs it.
const (
	Run     = "run"     // a running node (make run, make test, clusterf doctor)
	Test    = "test"    // make test
	Bench   = "bench"   // make bench
	Feature = "feature" // a feature that needs it; never installed by make
)

// Dep is one line of deps.txt.
type Dep struct {
	Command  string // the program's name on PATH
	Package  string // the Debian package that provides it
	Scope    string // Run, Test, Bench or Feature
	NeededBy string // what needs it, in words
	Line     int
}

//go:embed deps.txt
var listText string

// List returns the embedded deps.txt.
func List() []Dep {
	l, err := Parse(listText)
	if err != nil {
		panic(err) // deps_test.go parses the same text
	}
	return l
}

// Parse reads deps.txt: "command package scope needed-by...", # comments.
func Parse(text string) ([]Dep, error) {
	var out []Dep
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return nil, fmt.Errorf("deps.txt:%d: want 'command package scope needed-by', got %q", i+1, line)
		}
		switch f[2] {
		case Run, Test, Bench, Feature:
		default:
			return nil, fmt.Errorf("deps.txt:%d: unknown scope %q (run, test, bench, feature)", i+1, f[2])
		}
		if seen[f[0]] {
			return nil, fmt.Errorf("deps.txt:%d: %s listed twice", i+1, f[0])
		}
		seen[f[0]] = true
		out = append(out, Dep{Command: f[0], Package: f[1], Scope: f[2], NeededBy: strings.Join(f[3:], " "), Line: i + 1})
	}
	return out, nil
}

// Commands returns the listed commands of the given scopes (all if none).
func Commands(scopes ...string) map[string]Dep {
	out := map[string]Dep{}
	for _, d := range List() {
		if len(scopes) == 0 || slices.Contains(scopes, d.Scope) {
			out[d.Command] = d
		}
	}
	return out
}
