// Package bodywriter gives http.ServeContent, and any io.Copy into a
// response, large writes: wrapped in Large, a ResponseWriter is an
// io.ReaderFrom that copies through a pooled 256 KiB buffer instead of
// io.Copy's 32 KiB, so a 1 MiB body is 4 socket writes instead of 32
// (docs/perf.md, "Recycled read buffers"). The REST API and WebDAV both
// serve file bodies through it.
package bodywriter
