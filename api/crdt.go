package api

import (
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/clusterf/clusterf/crdt"
)

// The CRDT inspector's endpoints: what the metadata replica holds, read
// through crdt's inspection accessors (no op is decoded here).

func (s *Server) registerCRDT() {
	e := s.echo
	e.GET("/api/crdt", s.getCRDT)
	e.GET("/api/crdt/log", s.getCRDTLog)
	e.GET("/api/crdt/inode", s.getCRDTInode)
	e.GET("/api/crdt/tombstones", s.getCRDTTombstones)
}

// CRDTSummary is the answer of GET /api/crdt.
type CRDTSummary struct {
	Node          string                   `json:"node_id"`
	VersionVector map[string]uint64        `json:"version_vector"`
	Durable       bool                     `json:"all_durable"`
	Logs          map[string]crdt.LogRange `json:"logs"`
	Peers         []PeerCRDT               `json:"peers"`
	Settings      []SettingInfo            `json:"settings"`
	Footprint     crdt.Footprint           `json:"footprint"`
	Tombstones    int                      `json:"tombstones"`
}

// PeerCRDT is a peer's version vector as it last reported it and what it
// lacks (ops this node has that it has not acknowledged) and what this
// node lacks from it, per origin.
type PeerCRDT struct {
	PeerVector
	Missing map[string]uint64 `json:"missing"` // origin -> ops it lacks
	Ahead   map[string]uint64 `json:"ahead"`   // origin -> ops it has that we lack
}

// SettingInfo is one cluster setting register.
type SettingInfo struct {
	Key   string    `json:"key"`
	Value any       `json:"value"` // decoded when it is a plain value, else hex
	Time  time.Time `json:"time"`
	Node  string    `json:"node"`
}

func vvMap(vv crdt.VersionVector) map[string]uint64 {
	out := make(map[string]uint64, len(vv))
	for n, s := range vv {
		out[string(n)] = s
	}
	return out
}

func (s *Server) getCRDT(c echo.Context) error {
	meta := s.fs.Meta()
	vv := meta.VersionVector()
	sum := CRDTSummary{Node: string(meta.Node()), VersionVector: vvMap(vv), Durable: meta.AllDurable(),
		Logs: map[string]crdt.LogRange{}, Peers: []PeerCRDT{}, Settings: []SettingInfo{}, Footprint: meta.Footprint()}
	_ = meta.View(func(v *crdt.View) error {
		for o, r := range v.LogRanges() {
			sum.Logs[string(o)] = r
		}
		for _, r := range v.SettingRegisters() {
			sum.Settings = append(sum.Settings, SettingInfo{Key: r.Key, Value: settingValue(r.Value), Time: r.Time, Node: string(r.Node)})
		}
		sum.Tombstones, _ = v.Tombstones(0)
		return nil
	})
	if s.cfg.Dashboard != nil {
		for _, pv := range s.cfg.Dashboard.PeerVectors() {
			pc := PeerCRDT{PeerVector: pv, Missing: map[string]uint64{}, Ahead: map[string]uint64{}}
			for o, seq := range sum.VersionVector {
				if seq > pv.Vector[o] {
					pc.Missing[o] = seq - pv.Vector[o]
				}
			}
			for o, seq := range pv.Vector {
				if seq > sum.VersionVector[o] {
					pc.Ahead[o] = seq - sum.VersionVector[o]
				}
			}
			sum.Peers = append(sum.Peers, pc)
		}
	}
	sort.Slice(sum.Peers, func(i, j int) bool { return sum.Peers[i].NodeID < sum.Peers[j].NodeID })
	return c.JSON(http.StatusOK, sum)
}

// settingValue decodes a setting's CBOR value when it is a plain value.
func settingValue(b []byte) any {
	var x any
	if crdt.DecodeValue(b, &x) == nil {
		switch x.(type) {
		case uint64, int64, string, bool, float64:
			return x
		case map[any]any, map[string]any:
			return x2json(x)
		}
	}
	return hex.EncodeToString(b)
}

// x2json turns a decoded CBOR map into something encoding/json takes.
func x2json(x any) any {
	switch m := x.(type) {
	case map[any]any:
		out := map[string]any{}
		for k, v := range m {
			out[toString(k)] = x2json(v)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, v := range m {
			out[k] = x2json(v)
		}
		return out
	}
	return x
}

func toString(k any) string {
	switch v := k.(type) {
	case string:
		return v
	case uint64:
		return strconv.FormatUint(v, 10)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return "?"
}

// CRDTLogPage is the answer of GET /api/crdt/log.
type CRDTLogPage struct {
	Origin string        `json:"origin"`
	Range  crdt.LogRange `json:"range"`
	Ops    []crdt.OpInfo `json:"ops"`
	Next   uint64        `json:"next,omitempty"` // ?after= of the next page (0: none)
}

// getCRDTLog serves one page of an origin's op log: ?origin=&after=&limit=
// (default 100, at most 1000).
func (s *Server) getCRDTLog(c echo.Context) error {
	origin := c.QueryParam("origin")
	if !crdt.ValidNodeID(crdt.NodeID(origin)) {
		return httpErr(http.StatusBadRequest, "origin must be a node id")
	}
	after, err := uintParam(c, "after", 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := uintParam(c, "limit", 100, 1000)
	if err != nil {
		return err
	}
	page := CRDTLogPage{Origin: origin}
	_ = s.fs.Meta().View(func(v *crdt.View) error {
		page.Range = v.LogRanges()[crdt.NodeID(origin)]
		page.Ops = v.LogPage(crdt.NodeID(origin), after, int(limit))
		return nil
	})
	if n := len(page.Ops); n > 0 && page.Ops[n-1].Seq < page.Range.Last {
		page.Next = page.Ops[n-1].Seq
	}
	return c.JSON(http.StatusOK, page)
}

func uintParam(c echo.Context, name string, def, max uint64) (uint64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > max {
		return 0, httpErr(http.StatusBadRequest, name+" must be a number 0.."+strconv.FormatUint(max, 10))
	}
	return n, nil
}

// getCRDTInode serves an inode's registers: ?path= (a cluster path, also
// a conflict copy) or ?id= (hex inode id).
func (s *Server) getCRDTInode(c echo.Context) error {
	var id crdt.InodeID
	switch {
	case c.QueryParam("id") != "":
		b, err := hex.DecodeString(c.QueryParam("id"))
		if err != nil || len(b) != len(id) {
			return httpErr(http.StatusBadRequest, "id must be a 32-digit hex inode id")
		}
		copy(id[:], b)
	default:
		p, err := CleanPath(c.QueryParam("path"))
		if err != nil {
			return err
		}
		a, err := s.fs.Walk(c.Request().Context(), p)
		if err != nil {
			return readErr(err)
		}
		id = a.Ref.Inode
	}
	var reg crdt.InodeRegisters
	err := s.fs.Meta().View(func(v *crdt.View) (err error) {
		reg, err = v.Registers(id)
		return err
	})
	if err != nil {
		return readErr(err)
	}
	return c.JSON(http.StatusOK, reg)
}

// CRDTTombstones is the answer of GET /api/crdt/tombstones.
type CRDTTombstones struct {
	Total      int              `json:"total"`
	Tombstones []crdt.Tombstone `json:"tombstones"`
}

// getCRDTTombstones serves the newest deleted dentries (?limit=, default
// 100, at most 1000).
func (s *Server) getCRDTTombstones(c echo.Context) error {
	limit, err := uintParam(c, "limit", 100, 1000)
	if err != nil {
		return err
	}
	var out CRDTTombstones
	_ = s.fs.Meta().View(func(v *crdt.View) error {
		out.Total, out.Tombstones = v.Tombstones(int(limit))
		return nil
	})
	return c.JSON(http.StatusOK, out)
}
