// Package api is the HTTP API of a clusterf node: REST over the filesystem
// core (replica.FS), the cluster endpoints (through the Cluster interface
// the node implements), Prometheus metrics, pprof and flame graphs, an
// OpenAPI document, and the mount point of the WebDAV handler. New builds a
// Server; Handler is its echo instance. Several Servers may live in one
// process (one per simulated node): the package keeps no per-node state
// of its own.
//
// # Routes
//
// The original clusterF's paths and JSON field names, so its scripts keep
// working: /api/files/<path> (GET, HEAD, PUT, DELETE, POST with
// X-Create-Directory: true), /api/metadata/<path>, /api/search, /status,
// /api/cluster-stats, /api/partition-stats, /api/replication-factor,
// /api/partition-sync-interval, /api/under-replicated,
// /api/integrity-check, /api/metrics, /debug/pprof/*, /flamegraph,
// /memorygraph, /api/openapi.json; media streaming (media.go, over
// media.Service): /api/media/<path>, /api/stream/<path>/...,
// /api/thumbnail/<path>, /media/player. openapi.json lists every route;
// TestOpenAPICoversRoutes keeps it true. docs/api.md has the table.
//
// # Paths
//
// The path after a route prefix is taken from the request's decoded
// URL.Path (decoded exactly once; echo's wildcard parameter is sometimes
// escaped, sometimes not) and goes through CleanPath before anything
// touches the core: "." and ".." (also double-encoded), NUL, backslash,
// control characters, invalid UTF-8, names over 255 bytes and paths over
// 4096 bytes are a 400 and nothing changes.
//
// # Files
//
// GET streams through http.ServeContent over a replica handle, so Range
// (single, multi-range, suffix), If-Range, If-None-Match, If-Match,
// If-Modified-Since and 416 are the standard library's. The ETag is strong:
// a hash of inode id, content version, size and mtime (every PUT makes a
// new inode, so every PUT changes it). X-ClusterF-Checksum is the hex
// SHA-256 of the content: computed while streaming on PUT (any size) and
// cached by ETag; on GET and /api/metadata read from that cache or
// computed by reading the file when it is at most 16 MiB, else absent.
// Listings and search leave "checksum" empty (it would mean reading every
// file). PUT streams the body into replica.FS.PutFile (temporary file then
// rename: readers see the old or the new file); 201 with the metadata when
// new, 204 when replaced. Hidden upload temporaries are not listed.
//
// # Errors
//
// Handlers return errors; handleError is the one place they become
// {"error": "..."} answers, by errors.Is on the core's sentinels: bad path
// and invalid arguments 400, not found 404, exists / not empty / is a
// directory / not a directory 409 (reads through a file are 404), body over
// Config.MaxUpload 413, ENOSPC 507, everything else a logged 500 whose
// message is hidden from the client.
//
// # Access
//
// With Config.RequireToken every request (WebDAV too) needs
// "Authorization: Bearer <token>" or basic auth with the token as password;
// otherwise 401 with WWW-Authenticate: Basic realm="clusterf". Tokens are
// compared in constant time (hashes of both).
//
// # Caveats
//
//   - /flamegraph holds the process-wide CPU profiler for ?seconds= (409 if
//     it is busy); flame graph rendering is serialized process-wide because
//     the pprof driver sets a package variable of its own.
//   - Importing net/http/pprof registers its handlers on
//     http.DefaultServeMux; this package never serves that mux.
//   - Conditional PUT (If-Match, If-None-Match: *) checks, then writes: a
//     concurrent writer between the two wins.
//   - Search walks the namespace (bounded to 200000 entries, then
//     "truncated": true) until the full-text index lands.
package api
