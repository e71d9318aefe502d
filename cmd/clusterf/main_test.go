package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		contains string
	}{
		{"version subcommand", []string{"version"}, nil, 0, "clusterf "},
		{"version flag", []string{"--version"}, nil, 0, "clusterf "},
		{"unknown flag", []string{"--bogus"}, nil, 2, "unknown flag: --bogus"},
		{"mount without dir", []string{"mount"}, nil, 2, "accepts 1 arg"},
		{"stray argument", []string{"serve", "extra"}, nil, 2, "unknown command"},
		{"bad port", []string{"--http-port", "70000"}, nil, 2, "--http-port 70000"},
		{"bad engine", []string{"--storage-major", "floppy"}, nil, 2, "unknown engine"},
		{"bad env value", []string{"serve"}, map[string]string{"CLUSTERF_HTTP_PORT": "abc"}, 2, "CLUSTERF_HTTP_PORT"},
		{"profiling takes no value", []string{"--profiling=x"}, nil, 2, "--profiling"},
		{"bad max-delete", []string{"--import-dir", "/x", "--max-delete", "150%"}, nil, 2, "--max-delete"},
		{"import without args", []string{"import", "/x"}, nil, 2, "accepts 2 arg"},
		{"sim without nodes", []string{"sim"}, nil, 2, "--sim-nodes"},
		{"bad node id", []string{"--node-id", "a/b", "--data-dir", "DATADIR", "--discovery-port", "0"}, nil, 1, "invalid node id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = strings.ReplaceAll(a, "DATADIR", t.TempDir())
			}
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out.String(), errb.String())
			}
			if all := out.String() + errb.String(); !strings.Contains(all, c.contains) {
				t.Fatalf("output lacks %q:\n%s", c.contains, all)
			}
		})
	}
}
