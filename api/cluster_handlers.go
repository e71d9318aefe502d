package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// clusterCall runs fn against the cluster, or answers 503 without one.
func (s *Server) clusterCall(c echo.Context, fn func(ctx context.Context, cl Cluster) (any, error)) error {
	if s.cluster == nil {
		return httpErr(http.StatusServiceUnavailable, "cluster layer not available on this node")
	}
	v, err := fn(c.Request().Context(), s.cluster)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) getStatus(c echo.Context) error {
	return s.clusterCall(c, func(ctx context.Context, cl Cluster) (any, error) {
		st, err := cl.Status(ctx)
		if st.PeerList == nil {
			st.PeerList = []Peer{}
		}
		s.mediaStatus(&st)
		return st, err
	})
}

func (s *Server) getClusterStats(c echo.Context) error {
	return s.clusterCall(c, func(ctx context.Context, cl Cluster) (any, error) {
		st, err := cl.ClusterStats(ctx)
		if st.PeerList == nil {
			st.PeerList = []Peer{}
		}
		s.mediaStatus(&st.Status)
		return st, err
	})
}

func (s *Server) getPartitionStats(c echo.Context) error {
	return s.clusterCall(c, func(ctx context.Context, cl Cluster) (any, error) {
		r, err := cl.PartitionStats(ctx)
		if r.Partitions == nil {
			r.Partitions = []PartitionInfo{}
		}
		return r, err
	})
}

// ReplicationFactorBody is the body and answer of /api/replication-factor.
type ReplicationFactorBody struct {
	Success           bool `json:"success,omitempty"`
	ReplicationFactor int  `json:"replication_factor"`
}

func (s *Server) getReplicationFactor(c echo.Context) error {
	return s.clusterCall(c, func(ctx context.Context, cl Cluster) (any, error) {
		n, err := cl.ReplicationFactor(ctx)
		return ReplicationFactorBody{ReplicationFactor: n}, err
	})
}

func (s *Server) putReplicationFactor(c echo.Context) error {
	var body struct {
		N *int `json:"replication_factor"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if body.N == nil {
		return httpErr(http.StatusBadRequest, `missing "replication_factor"`)
	}
	n := *body.N
	if n < 1 || n > MaxReplicationFactor {
		return httpErr(http.StatusBadRequest, "replication_factor must be 1.."+strconv.Itoa(MaxReplicationFactor))
	}
	return s.clusterCall(c, func(ctx context.Context, cl Cluster) (any, error) {
		return ReplicationFactorBody{Success: true, ReplicationFactor: n}, cl.SetReplicationFactor(ctx, n)
	})
}

// SyncIntervalBody is the body and answer of /api/partition-sync-interval.
type SyncIntervalBody struct {
	Success bool `json:"success,omitempty"`
	Seconds int  `json:"partition_sync_interval_seconds"`
}

func (s *Server) putPartitionSyncInterval(c echo.Context) error {
	var body struct {
		N *int `json:"partition_sync_interval_seconds"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if body.N == nil {
		return httpErr(http.StatusBadRequest, `missing "partition_sync_interval_seconds"`)
	}
	n := *body.N
	if n < 1 || n > MaxPartitionSyncInterval {
		return httpErr(http.StatusBadRequest, "partition_sync_interval_seconds must be 1.."+strconv.Itoa(MaxPartitionSyncInterval))
	}
	return s.clusterCall(c, func(ctx context.Context, cl Cluster) (any, error) {
		return SyncIntervalBody{Success: true, Seconds: n}, cl.SetPartitionSyncInterval(ctx, n)
	})
}

func (s *Server) getUnderReplicated(c echo.Context) error {
	return s.clusterCall(c, func(ctx context.Context, cl Cluster) (any, error) {
		r, err := cl.UnderReplicated(ctx)
		if r.Partitions == nil {
			r.Partitions = []UnderReplicatedPartition{}
		}
		return r, err
	})
}

func (s *Server) postIntegrityCheck(c echo.Context) error {
	return s.clusterCall(c, func(ctx context.Context, cl Cluster) (any, error) {
		r, err := cl.IntegrityCheck(ctx)
		if r.Corrupt == nil {
			r.Corrupt = []CorruptChunk{}
		}
		return r, err
	})
}

// ForgetNodeBody is the body of POST /api/forget-node.
type ForgetNodeBody struct {
	NodeID string `json:"node_id"`
}

// postForgetNode removes a member for good: garbage collection and
// compaction stop waiting for it, and no member talks to it again.
func (s *Server) postForgetNode(c echo.Context) error {
	var b ForgetNodeBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.NodeID == "" {
		return httpErr(http.StatusBadRequest, "node_id is required")
	}
	return s.clusterCall(c, func(ctx context.Context, cl Cluster) (any, error) {
		if err := cl.ForgetNode(ctx, b.NodeID); err != nil {
			return nil, err
		}
		return map[string]any{"success": true, "node_id": b.NodeID}, nil
	})
}
