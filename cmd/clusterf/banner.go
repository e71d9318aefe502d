package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/clusterf/clusterf/cluster"
	"github.com/clusterf/clusterf/node"
)

// bannerInfo is what the start-up banner shows about a running node.
type bannerInfo struct {
	Version       string
	NodeID        string
	DataDir       string
	HTTPURL       string
	Mount         string // "" without a mount
	QUICPort      int
	DiscoveryPort int // 0 = broadcast discovery off
	StaticPeers   []string
	ClusterKey    bool
	FirstToken    string // shown once
	TokenFile     string
	Encrypted     bool   // encryption at rest
	Dashboard     string // the dashboard's URL (a one-time login link when a token is needed)
}

func nodeBanner(n *node.Node, nf *nodeFlags) bannerInfo {
	return bannerInfo{
		Version: version, NodeID: string(n.ID), DataDir: n.Dir, HTTPURL: n.HTTPURL(),
		Mount: n.Mountpoint(), QUICPort: n.QUICPort(), DiscoveryPort: nf.discoveryPort,
		StaticPeers: nf.peers, ClusterKey: nf.clusterKey != "",
		FirstToken: n.FirstToken, TokenFile: n.Dir + "/http-token",
		Encrypted: n.Encrypted(), Dashboard: n.DashboardURL(),
	}
}

// printBanner writes the one start-up screen: where everything is and how
// the node looks for its cluster. The open LAN mode warning (logged once
// by the node, with its fix) is not repeated here.
func printBanner(w io.Writer, b bannerInfo) {
	fmt.Fprintf(w, "clusterf %s\n", b.Version)
	fmt.Fprintf(w, "  node id:   %s\n", b.NodeID)
	fmt.Fprintf(w, "  data dir:  %s\n", b.DataDir)
	if b.Encrypted {
		fmt.Fprintf(w, "  at rest:   encrypted (key header %s/encryption-header; 'clusterf rekey' changes the passphrase)\n", b.DataDir)
	}
	if b.Mount != "" {
		fmt.Fprintf(w, "  mount:     %s\n", b.Mount)
	}
	fmt.Fprintf(w, "  http:      %s  (status: /status, files: /api/files/, WebDAV: /webdav/)\n", b.HTTPURL)
	if b.Dashboard != "" {
		note := ""
		if strings.Contains(b.Dashboard, "/login?") {
			note = "  (one-time login link; later sign in with the token)"
		}
		fmt.Fprintf(w, "  dashboard: %s%s\n", b.Dashboard, note)
	}
	key := "none (open LAN mode)"
	if b.ClusterKey {
		key = "set (only nodes with the same key join)"
	}
	fmt.Fprintf(w, "  cluster:   %s; QUIC port %d; cluster key %s\n", discoveryText(b), b.QUICPort, key)
	if b.FirstToken != "" {
		fmt.Fprintf(w, "  HTTP token (shown once, saved in %s): %s\n", b.TokenFile, b.FirstToken)
	}
	stop := "Ctrl-C stops the node"
	if b.Mount != "" {
		stop += " and unmounts " + b.Mount
	}
	fmt.Fprintln(w, stop+".")
}

func discoveryText(b bannerInfo) string {
	var parts []string
	if b.DiscoveryPort > 0 {
		parts = append(parts, fmt.Sprintf("finds peers by UDP broadcast on port %d", b.DiscoveryPort))
	}
	if len(b.StaticPeers) > 0 {
		parts = append(parts, "static peers "+strings.Join(b.StaticPeers, ","))
	}
	if len(parts) == 0 {
		return "no discovery (--discovery-port 0, no --peers)"
	}
	return strings.Join(parts, ", ")
}

// peerWait is how long the peers line waits for a first peer: a little
// more than one discovery interval (3 s ± 20 %) plus a QUIC handshake.
const peerWait = 5 * time.Second

// reportPeers prints one "peers:" line: as soon as a peer is connected, or
// after peerWait with what was found by then (and what to do if nothing). Later joins and losses are
// logged by the cluster ("peer up", "peer down"). It returns when it has
// printed or ctx ends.
func reportPeers(ctx context.Context, w io.Writer, b bannerInfo, peers func() []cluster.PeerStatus) {
	deadline := time.NewTimer(peerWait)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			fmt.Fprintln(w, peersLine(peers(), b))
			return
		case <-tick.C:
			if ps := peers(); slices.ContainsFunc(ps, func(p cluster.PeerStatus) bool { return p.Up }) {
				fmt.Fprintln(w, peersLine(ps, b))
				return
			}
		}
	}
}

// peersLine describes the peers found so far.
func peersLine(ps []cluster.PeerStatus, b bannerInfo) string {
	if len(ps) == 0 {
		switch {
		case b.DiscoveryPort == 0 && len(b.StaticPeers) == 0:
			return "peers:     none; without discovery or --peers only nodes that name this one in their --peers join"
		case b.DiscoveryPort == 0:
			return "peers:     none reachable yet; the --peers join when they answer"
		case b.ClusterKey:
			return "peers:     none found yet; a node started on another machine of this LAN with the same cluster key joins within seconds"
		}
		return "peers:     none found yet; a node started on another machine of this LAN joins within seconds"
	}
	var up, down []string
	for _, p := range ps {
		if p.Up {
			up = append(up, string(p.ID))
		} else {
			down = append(down, string(p.ID))
		}
	}
	slices.Sort(up)
	slices.Sort(down)
	s := fmt.Sprintf("peers:     %d connected", len(up))
	if len(up) > 0 {
		s += " (" + strings.Join(up, ", ") + ")"
	}
	if len(down) > 0 {
		s += fmt.Sprintf(", %d not reachable yet (%s)", len(down), strings.Join(down, ", "))
	}
	return s
}
