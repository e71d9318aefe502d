package webdav

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	xwebdav "golang.org/x/net/webdav"
)

// x/net/webdav answers 501 to a LOCK asking for a shared lock. The handler
// creates those itself (handleSharedLock); exclusive locks, refreshes and
// everything else stay with x/net/webdav.

// maxLockBody bounds a LOCK body.
const maxLockBody = 1 << 20

// lockInfo is the body of a LOCK request that creates a lock.
type lockInfo struct {
	XMLName   xml.Name  `xml:"DAV: lockinfo"`
	Exclusive *struct{} `xml:"DAV: lockscope>exclusive"`
	Shared    *struct{} `xml:"DAV: lockscope>shared"`
	Write     *struct{} `xml:"DAV: locktype>write"`
	Owner     struct {
		InnerXML string `xml:",innerxml"`
	} `xml:"DAV: owner"`
}

// sharedLockRequest reads a LOCK body and reports whether it asks for a
// shared write lock; the body is put back for x/net/webdav otherwise.
func sharedLockRequest(r *http.Request) (*lockInfo, bool, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, false, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLockBody+1))
	r.Body.Close()
	if err != nil {
		return nil, false, fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxLockBody {
		return nil, false, errors.New("LOCK body too large")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var li lockInfo
	if xml.Unmarshal(body, &li) != nil || li.Shared == nil || li.Exclusive != nil || li.Write == nil {
		return nil, false, nil
	}
	return &li, true, nil
}

// parseTimeout reads a Timeout header as x/net/webdav does: the first
// value, "Infinite" (-1) or "Second-N"; none means infinite.
func parseTimeout(s string) (time.Duration, error) {
	s, _, _ = strings.Cut(s, ",")
	s = strings.TrimSpace(s)
	if s == "" || s == "Infinite" {
		return -1, nil
	}
	n, ok := strings.CutPrefix(s, "Second-")
	if !ok {
		return 0, errors.New("invalid Timeout header")
	}
	v, err := strconv.ParseUint(n, 10, 32)
	if err != nil {
		return 0, errors.New("invalid Timeout header")
	}
	return time.Duration(v) * time.Second, nil
}

// handleSharedLock creates a shared write lock on the request's resource,
// creating an empty file when it does not exist (as x/net/webdav does for
// exclusive locks), and answers with its lock discovery.
func (h *handler) handleSharedLock(w http.ResponseWriter, r *http.Request, li *lockInfo) (int, error) {
	rel, _ := h.strip(r.URL.Path)
	name := slashClean(rel)
	zero := false
	switch r.Header.Get("Depth") {
	case "", "infinity":
	case "0":
		zero = true
	default:
		return http.StatusBadRequest, errors.New("invalid Depth for LOCK")
	}
	d, err := parseTimeout(r.Header.Get("Timeout"))
	if err != nil {
		return http.StatusBadRequest, err
	}
	now := time.Now()
	ld := xwebdav.LockDetails{Root: name, Duration: d, OwnerXML: li.Owner.InnerXML, ZeroDepth: zero}
	token, err := h.locks.create(now, ld, true)
	if err != nil {
		return xwebdav.StatusLocked, err
	}
	ctx := r.Context()
	created := false
	if _, err := h.fs.Stat(ctx, name); err != nil {
		f, err := h.fs.OpenFile(ctx, name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
		if err == nil {
			err = f.Close()
		}
		if err != nil {
			h.locks.Unlock(now, token)
			if os.IsNotExist(err) {
				return http.StatusConflict, err
			}
			return http.StatusInternalServerError, err
		}
		created = true
	}
	depth := "infinity"
	if zero {
		depth = "0"
	}
	timeout := "Infinite"
	if d >= 0 {
		timeout = "Second-" + strconv.FormatInt(int64(d/time.Second), 10)
	}
	w.Header().Set("Lock-Token", "<"+token+">")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	if created {
		w.WriteHeader(http.StatusCreated)
	}
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"+
		"<D:prop xmlns:D=\"DAV:\"><D:lockdiscovery><D:activelock>\n"+
		"\t<D:locktype><D:write/></D:locktype>\n"+
		"\t<D:lockscope><D:shared/></D:lockscope>\n"+
		"\t<D:depth>%s</D:depth>\n"+
		"\t<D:owner>%s</D:owner>\n"+
		"\t<D:timeout>%s</D:timeout>\n"+
		"\t<D:locktoken><D:href>%s</D:href></D:locktoken>\n"+
		"\t<D:lockroot><D:href>%s</D:href></D:lockroot>\n"+
		"</D:activelock></D:lockdiscovery></D:prop>",
		depth, li.Owner.InnerXML, timeout, html.EscapeString(token), html.EscapeString(h.prefix+name))
	return 0, nil
}
