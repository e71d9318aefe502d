package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/clusterf/clusterf/cluster"
)

func TestBanner(t *testing.T) {
	base := bannerInfo{Version: "v1", NodeID: "frog-1", DataDir: "/d/frog-1", HTTPURL: "http://127.0.0.1:4000",
		QUICPort: 5000, DiscoveryPort: 9999}
	cases := []struct {
		name    string
		mod     func(*bannerInfo)
		want    []string
		notWant []string
	}{
		{"open mode with mount", func(b *bannerInfo) { b.Mount = "/mnt/frog" },
			[]string{"clusterf v1\n", "node id:   frog-1", "data dir:  /d/frog-1", "mount:     /mnt/frog", "http:      http://127.0.0.1:4000",
				"UDP broadcast on port 9999", "QUIC port 5000", "cluster key none (open LAN mode)", "Ctrl-C stops the node and unmounts /mnt/frog."},
			[]string{"token", "OPEN LAN MODE"}},
		{"key, no mount, token", func(b *bannerInfo) { b.ClusterKey = true; b.FirstToken = "tok"; b.TokenFile = "/d/frog-1/http-token" },
			[]string{"cluster key set", "HTTP token (shown once, saved in /d/frog-1/http-token): tok", "Ctrl-C stops the node.\n"},
			[]string{"mount:", "open LAN"}},
		{"dashboard", func(b *bannerInfo) { b.Dashboard = "http://127.0.0.1:4000/monitor" },
			[]string{"dashboard: http://127.0.0.1:4000/monitor\n"}, []string{"login"}},
		{"dashboard login link", func(b *bannerInfo) { b.Dashboard = "http://127.0.0.1:4000/login?code=c0de" },
			[]string{"dashboard: http://127.0.0.1:4000/login?code=c0de  (one-time login link"}, nil},
		{"no discovery", func(b *bannerInfo) { b.DiscoveryPort = 0 },
			[]string{"no discovery (--discovery-port 0, no --peers)"}, nil},
		{"static peers", func(b *bannerInfo) { b.DiscoveryPort = 0; b.StaticPeers = []string{"a:1", "b:2"} },
			[]string{"static peers a:1,b:2"}, []string{"broadcast"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := base
			c.mod(&b)
			var out bytes.Buffer
			printBanner(&out, b)
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("banner lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("banner has %q:\n%s", w, out.String())
				}
			}
			seen := map[string]bool{}
			for _, l := range strings.Split(out.String(), "\n") {
				if k, _, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && seen[k] {
					t.Errorf("banner repeats %q:\n%s", k, out.String())
				} else {
					seen[k] = true
				}
			}
		})
	}
}

func TestPeersLine(t *testing.T) {
	lan := bannerInfo{DiscoveryPort: 9999}
	cases := []struct {
		name  string
		b     bannerInfo
		peers []cluster.PeerStatus
		want  string
	}{
		{"none on LAN", lan, nil, "peers:     none found yet; a node started on another machine of this LAN joins within seconds"},
		{"none with key", bannerInfo{DiscoveryPort: 9999, ClusterKey: true}, nil, "with the same cluster key joins"},
		{"alone", bannerInfo{}, nil, "only nodes that name this one in their --peers join"},
		{"static unreachable", bannerInfo{StaticPeers: []string{"x:1"}}, nil, "the --peers join when they answer"},
		{"two up one down", lan, []cluster.PeerStatus{{ID: "b", Up: true}, {ID: "c"}, {ID: "a", Up: true}},
			"peers:     2 connected (a, b), 1 not reachable yet (c)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := peersLine(c.peers, c.b); !strings.Contains(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestReportPeers: the line comes as soon as a peer is up, and not at all
// once the context ends.
func TestReportPeers(t *testing.T) {
	var out bytes.Buffer
	calls := 0
	reportPeers(context.Background(), &out, bannerInfo{DiscoveryPort: 9999}, func() []cluster.PeerStatus {
		calls++
		if calls < 3 {
			return []cluster.PeerStatus{{ID: "a"}}
		}
		return []cluster.PeerStatus{{ID: "a", Up: true}}
	})
	if got := out.String(); got != "peers:     1 connected (a)\n" || calls != 3 {
		t.Errorf("after %d polls printed %q", calls, got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out.Reset()
	reportPeers(ctx, &out, bannerInfo{DiscoveryPort: 9999}, func() []cluster.PeerStatus { return nil })
	if out.Len() != 0 {
		t.Errorf("printed %q after the context ended", out.String())
	}
}

func TestDesktopSession(t *testing.T) {
	desk := map[string]string{"DISPLAY": ":0"}
	for _, c := range []struct {
		name      string
		noDesktop bool
		env       map[string]string
		tty       bool
		want      string
	}{
		{"desktop terminal", false, desk, true, ""},
		{"wayland", false, map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, true, ""},
		{"--no-desktop", true, desk, true, "--no-desktop"},
		{"CI", false, map[string]string{"DISPLAY": ":0", "CI": "true"}, true, "CI"},
		{"no display", false, nil, true, "no desktop session"},
		{"no terminal (service, test)", false, desk, false, "not started from a terminal"},
	} {
		if got := desktopSession(c.noDesktop, func(k string) string { return c.env[k] }, c.tty); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
