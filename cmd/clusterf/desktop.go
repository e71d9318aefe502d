package main

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/term"

	"github.com/clusterf/clusterf/api"
	"github.com/clusterf/clusterf/node"
)

// dashboardOpenedFile marks a node dir whose dashboard was opened in the
// desktop's browser (it opens once, at the first start).
const dashboardOpenedFile = ".dashboard-opened"

// desktopSession says why no browser is opened ("" when one may be): only
// with a desktop session (DISPLAY or WAYLAND_DISPLAY), never with
// --no-desktop, in CI (CI=true), or when stdout is not a terminal (a
// service, a test, a pipe).
func desktopSession(noDesktop bool, env func(string) string, stdoutTTY bool) string {
	switch {
	case noDesktop:
		return "--no-desktop"
	case env("CI") == "true":
		return "CI"
	case env("DISPLAY") == "" && env("WAYLAND_DISPLAY") == "":
		return "no desktop session"
	case !stdoutTTY:
		return "not started from a terminal"
	}
	return ""
}

// openDashboard opens the dashboard in the desktop's browser at the
// node's first start (xdg-open), when desktopSession allows it.
func openDashboard(n *node.Node, nf *nodeFlags, stdout io.Writer, log *slog.Logger) {
	tty := false
	if f, ok := stdout.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	if why := desktopSession(nf.noDesktop, os.Getenv, tty); why != "" {
		log.Debug("not opening the dashboard in a browser", "why", why)
		return
	}
	marker := filepath.Join(n.Dir, dashboardOpenedFile)
	if _, err := os.Stat(marker); err == nil {
		return
	}
	if err := exec.Command("xdg-open", n.DashboardURL()).Start(); err != nil {
		log.Info("could not open the dashboard in a browser; open the URL above", "err", err)
		return
	}
	_ = os.WriteFile(marker, nil, 0o644)
}

// startProfiling starts the CPU profile of --profiling before the node
// opens anything, so the start-up is in it (the /profiling page stops it
// and offers it for download and as a flame graph).
func startProfiling(nf *nodeFlags, log *slog.Logger) {
	if !nf.profiling {
		return
	}
	if err := api.StartCPUProfile("--profiling"); err != nil {
		log.Warn("--profiling: CPU profiling did not start", "err", err)
		return
	}
	log.Info("CPU profiling from the start (--profiling): stop it and look at it on the dashboard's /profiling page")
}
