// Package web is the node's web dashboard: the original clusterF's pages
// (/monitor, /files/, /cluster-visualizer.html, /crdt, /metrics,
// /profiling) as embedded HTML, CSS and JavaScript, served on the node's
// one HTTP port by the api package (api.Config.UI).
//
// The pages are a frontend like WebDAV: they only talk to the JSON
// endpoints the REST API documents (api/openapi.json) and get live
// updates from GET /api/events (the core's change feed and the node's
// event log, with sequence numbers). No behaviour lives here.
//
// Front-end libraries (Preact, htm, uPlot, Cytoscape.js) are vendored
// from npm at pinned versions in assets/vendor (vendor.sh, make
// web-vendor; licences in assets/vendor/VERSIONS and LICENSE.*): no CDN,
// the dashboard works on an offline LAN. docs/web.md describes the pages
// and decisions; integration/web_test.go drives them in headless Chromium.
package web
