package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// GET /api/events: the dashboard's live updates, one stream of namespace
// changes (the core's change feed, replica.FS.Changes) and cluster events
// (the node's event log), in Syncthing's manner. A cursor
// "<epoch>.<feed seq>.<event seq>" says what a client has seen; it comes
// back with every message (the SSE id, so EventSource resumes by itself
// with Last-Event-ID) and is accepted as ?since=. A client without a
// cursor, with one of another epoch (the node restarted), or one that fell
// behind what is kept, gets "reset": reload the state, then go on.
//
// With "Accept: text/event-stream" the answer is an SSE stream (events
// "hello", "change", "bulk", "event", "reset"); otherwise a long poll that
// answers {cursor, reset, changes, events} as soon as there is something
// after the cursor, or after ?timeout= seconds (default 30, at most 60).

// ChangeEvent is one namespace change as the stream tells it.
type ChangeEvent struct {
	Seq     uint64    `json:"seq"`
	Kind    string    `json:"kind"` // created, moved, removed, written, attr, xattr, setting, reset
	Path    string    `json:"path,omitempty"`
	OldPath string    `json:"old_path,omitempty"`
	Name    string    `json:"name,omitempty"` // setting key or xattr name
	Node    string    `json:"node,omitempty"`
	Remote  bool      `json:"remote"`
	Time    time.Time `json:"time"`
}

// EventsPoll is the long-poll answer of GET /api/events.
type EventsPoll struct {
	Cursor  string        `json:"cursor"`
	Reset   bool          `json:"reset"`
	Changes []ChangeEvent `json:"changes"`
	Events  []Event       `json:"events"`
}

// Stream limits: a batch of more changes than bulkChanges goes as one
// "bulk" message (reload what is shown) instead of one message each.
const (
	bulkChanges    = 200
	heartbeatEvery = 15 * time.Second
	tailEvents     = 200 // events a long poll from event seq 0 gets: the newest
)

type cursor struct {
	epoch     string
	feed, evs uint64
}

func (c cursor) String() string { return fmt.Sprintf("%s.%d.%d", c.epoch, c.feed, c.evs) }

func parseCursor(s string) (cursor, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return cursor{}, false
	}
	f, err1 := strconv.ParseUint(parts[1], 10, 64)
	e, err2 := strconv.ParseUint(parts[2], 10, 64)
	return cursor{parts[0], f, e}, err1 == nil && err2 == nil
}

// now is the cursor of the latest change and event.
func (s *Server) nowCursor() cursor {
	return cursor{s.cfg.Dashboard.Epoch(), s.fs.Changes().Last(), s.cfg.Dashboard.LastEvent()}
}

// batch is what the stream has after a cursor.
type batch struct {
	next    cursor
	reset   bool
	changes []replica.Change
	events  []Event
}

// collect reads what came after cur (nothing, if nothing did).
func (s *Server) collect(cur cursor) batch {
	b := batch{next: cur}
	var missedF, missedE bool
	b.changes, missedF = s.fs.Changes().Since(cur.feed, 1024)
	b.events, missedE = s.cfg.Dashboard.Events(cur.evs, 256)
	if missedF || missedE {
		return batch{next: s.nowCursor(), reset: true}
	}
	if n := len(b.changes); n > 0 {
		b.next.feed = b.changes[n-1].Seq
	}
	if n := len(b.events); n > 0 {
		b.next.evs = b.events[n-1].Seq
	}
	return b
}

func (b batch) empty() bool { return !b.reset && len(b.changes) == 0 && len(b.events) == 0 }

// wait blocks until something comes after cur, ctx ends or d passes.
func (s *Server) wait(ctx context.Context, cur cursor, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan struct{}, 2)
	go func() { _ = s.fs.Changes().Wait(ctx, cur.feed); done <- struct{}{} }()
	go func() { _ = s.cfg.Dashboard.WaitEvents(ctx, cur.evs); done <- struct{}{} }()
	<-done
	cancel()
	<-done
}

func (s *Server) getEvents(c echo.Context) error {
	if s.cfg.Dashboard == nil {
		return httpErr(http.StatusServiceUnavailable, "no event log on this server")
	}
	r := c.Request()
	since := r.Header.Get("Last-Event-ID")
	if q := c.QueryParam("since"); q != "" {
		since = q
	}
	cur, ok := parseCursor(since)
	fresh := !ok || cur.epoch != s.cfg.Dashboard.Epoch()
	if fresh {
		cur = s.nowCursor()
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return s.streamEvents(c, cur, fresh, since != "")
	}
	timeout := 30
	if v := c.QueryParam("timeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 60 {
			return httpErr(http.StatusBadRequest, "timeout must be 0..60 seconds")
		}
		timeout = n
	}
	if !fresh && cur.evs == 0 { // the log's tail, not its oldest events (a page's first look)
		if last := s.cfg.Dashboard.LastEvent(); last > tailEvents {
			cur.evs = last - tailEvents
		}
	}
	b := s.collect(cur)
	if !fresh && b.empty() && timeout > 0 {
		s.wait(r.Context(), cur, time.Duration(timeout)*time.Second)
		b = s.collect(cur)
	}
	out := EventsPoll{Cursor: b.next.String(), Reset: fresh || b.reset, Changes: s.describeChanges(b.changes), Events: b.events}
	if out.Events == nil {
		out.Events = []Event{}
	}
	return c.JSON(http.StatusOK, out)
}

// streamEvents writes the SSE stream until the client goes away.
func (s *Server) streamEvents(c echo.Context, cur cursor, fresh, hadCursor bool) error {
	w := c.Response()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx := c.Request().Context()
	send := func(event string, id cursor, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", id, event, data); err != nil {
			return err
		}
		w.Flush()
		return nil
	}
	first := "hello"
	if fresh && hadCursor {
		first = "reset"
	}
	if err := send(first, cur, map[string]any{"cursor": cur.String(), "epoch": cur.epoch}); err != nil {
		return nil
	}
	for ctx.Err() == nil {
		b := s.collect(cur)
		if b.empty() {
			s.wait(ctx, cur, heartbeatEvery)
			if b = s.collect(cur); b.empty() {
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return nil
				}
				w.Flush()
				continue
			}
		}
		if err := s.sendBatch(b, send); err != nil {
			return nil
		}
		cur = b.next
	}
	return nil
}

func (s *Server) sendBatch(b batch, send func(string, cursor, any) error) error {
	if b.reset {
		return send("reset", b.next, map[string]any{"cursor": b.next.String(), "reason": "events were missed"})
	}
	at := b.next
	if len(b.changes) > bulkChanges {
		if err := send("bulk", at, map[string]any{"count": len(b.changes)}); err != nil {
			return err
		}
	} else {
		for _, ch := range s.describeChanges(b.changes) {
			if err := send("change", at, ch); err != nil {
				return err
			}
		}
	}
	for _, ev := range b.events {
		if err := send("event", at, ev); err != nil {
			return err
		}
	}
	return nil
}

// describeChanges gives each change its paths, as they are now.
func (s *Server) describeChanges(cs []replica.Change) []ChangeEvent {
	out := make([]ChangeEvent, 0, len(cs))
	_ = s.fs.Meta().View(func(v *crdt.View) error {
		for _, ch := range cs {
			ce := ChangeEvent{Seq: ch.Seq, Kind: ch.Kind.String(), Node: string(ch.Origin), Remote: ch.Remote, Time: ch.At.UTC()}
			switch ch.Kind {
			case replica.ChangeCreated, replica.ChangeMoved:
				if p, ok := v.Path(ch.Dentry); ok {
					ce.Path = p
				} else {
					ce.Path = joinPath(v, ch.Parent, ch.Name)
				}
				if ch.Kind == replica.ChangeMoved {
					ce.OldPath = joinPath(v, ch.OldParent, ch.OldName)
				}
			case replica.ChangeRemoved:
				ce.Path = joinPath(v, ch.OldParent, ch.OldName)
			case replica.ChangeSetting, replica.ChangeXattr:
				ce.Name = ch.Name
				fallthrough
			default:
				if ds := v.LiveDentries(ch.Inode); len(ds) > 0 {
					ce.Path, _ = v.Path(ds[0])
				}
			}
			out = append(out, ce)
		}
		return nil
	})
	return out
}

// joinPath is the display path of name in dir ("" when dir is gone).
func joinPath(v *crdt.View, dir crdt.InodeID, name string) string {
	p, ok := v.Path(dir)
	if !ok || name == "" {
		return ""
	}
	return strings.TrimSuffix(p, "/") + "/" + name
}
