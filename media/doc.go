// Package media streams the cluster's audio and video to browsers and TV
// apps: it probes files with ffprobe, serves them as HLS with fragmented
// MP4 segments made on demand by ffmpeg (remuxed without re-encoding when
// the codecs allow it), makes thumbnails, and prepares new files in the
// background. It drives the real ffmpeg and ffprobe programs (Debian
// package ffmpeg); without them it answers ErrUnavailable and nothing
// else breaks (image thumbnails are decoded in Go and still work).
// The api package is its HTTP adapter (/api/media, /api/stream,
// /api/thumbnail); Player serves a minimal player page. docs/media.md
// records the decisions.
//
// # Reading sources
//
// ffmpeg and ffprobe read a cluster file over HTTP from a loopback server
// of this package (sourceServer): one unguessable URL per run, Range
// requests for seeks, every byte read through replica.FS like any other
// read, so a node without a copy fetches the chunks from the cluster.
// Nothing reaches into chunk files.
//
// # Streams
//
// A source has renditions (Info.Renditions, default first): "remux" when
// the video is H.264 a browser decodes (the video is copied, AAC audio
// copied, other audio encoded to AAC), then an H.264 ladder (1080p, 720p,
// 480p, 360p, never above the source) encoded with x264; audio-only
// files get "remux" (AAC) or "aac". A plan cuts a rendition into
// segments: at fixed multiples of 4 s when encoding (keyframes forced
// there), at the source's keyframes (found by a packet scan with
// ffprobe, cached) when copying. The whole VOD playlist exists before any
// segment, so players can seek at once.
//
// Every ffmpeg run writes one continuous fragmented MP4 to a pipe with
// the source's timestamps (-copyts, shifted by tsOffset); fmp4.go splits
// it into the init segment and fragments and groups the fragments into
// the plan's segments by their tfdt times. Runs started anywhere in a
// source produce the same init segment and segments that line up, so
// segments of different runs (and of the cache) mix freely.
//
// # Viewers, seeks and pacing
//
// One job per (source version, rendition) holds the viewers (one HLS
// session each: the ?s= of the master playlist's URIs) and the runs. A
// request for a segment nobody makes starts a run there; when the
// viewer's own run (used by nobody else) is far from it, that run is
// stopped and started again at the segment: one restart per seek, since
// the requests that follow find the new run. Viewers close together
// share one run. A run pauses (stops reading the pipe: ffmpeg blocks)
// when it is aheadSeconds ahead of its viewers or its job holds memLimit
// of segments, and is killed when its last viewer has been quiet for
// Config.ViewerTimeout. At most Config.MaxTranscodes runs exist; beyond
// that a new stream gets BusyError (503 with Retry-After), after a
// background run, if any, was stopped to make room.
//
// # Cache
//
// Segments, init segments, thumbnails and keyframe indexes live in a
// node-local directory (the node's <node dir>/media-cache), named by
// the source's version key (VersionKey: inode, content version, size,
// mtime — the REST API's ETag), with a hard cap (Config.CacheSize) that
// in-flight writes count against and LRU eviction. writeFile and
// readFile (cache_io.go) are the only functions that touch the cache's
// bytes: with Config.Keys (an encrypted node) they seal every entry, and
// file names are keyed hashes of the entry names.
//
// # Processes
//
// Every child is started by startProc: killed with SIGKILL when its
// context or the service ends, and by the kernel if this process dies
// (PR_SET_PDEATHSIG); a goroutine of the service reaps it. Close stops
// them all and waits. Background runs fork from a thread with nice 19
// and the idle I/O class, so their ffmpeg inherits both.
//
// # Caveats
//
//   - Copying the video needs the keyframe index first: ffprobe reads the
//     whole video stream once (no decoding) before the first play of a
//     version; the result is cached.
//   - A player that starts in the middle without a cached init segment
//     costs one extra ffmpeg start (the init request starts a run at 0).
//   - The master playlist names one rendition (?rendition= picks another),
//     so a player's bandwidth estimate never starts a second transcode.
//   - New files under --media-auto paths are found by a periodic scan
//     until the namespace change feed exists.
package media
