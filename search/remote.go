package search

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

// MethodExtract is the member-to-member RPC that reads a file's content
// on a member holding it and returns what extraction found (never the
// bytes): extractRequest → Extracted.
const MethodExtract = "search/extract"

// Remote reaches the members holding content this node does not.
type Remote interface {
	// Holders lists the members to ask for a chunk's content, best first
	// (its placement holders that are up, then the other live members),
	// this node left out.
	Holders(id chunk.ID) []string
	// Call sends one RPC to a member.
	Call(ctx context.Context, member, method string, req []byte) ([]byte, error)
}

type extractRequest struct {
	Inode   crdt.InodeID `cbor:"1,keyasint"`
	Version crdt.OpID    `cbor:"2,keyasint"`
	Name    string       `cbor:"3,keyasint"`
	MaxText int64        `cbor:"4,keyasint"`
	MaxFile int64        `cbor:"5,keyasint"`
}

// Decoding limits: a request is small; an answer is at most MaxText of
// text and a few short strings (the transport bounds the frame).
var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxArrayElements: 1024,
		MaxMapPairs:      64,
		MaxNestedLevels:  8,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

const (
	maxExtractRequest  = 4 << 10
	maxExtractResponse = 64 << 20
	extractTimeout     = 30 * time.Second
)

func decodeExtractRequest(b []byte) (extractRequest, error) {
	var r extractRequest
	if len(b) > maxExtractRequest {
		return r, fmt.Errorf("search/extract request of %d bytes: too large", len(b))
	}
	if err := decMode.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decode search/extract request: %w", err)
	}
	if r.Inode.IsZero() || r.Version.IsZero() || len(r.Name) > crdt.MaxNameLen || r.MaxText < -1 || r.MaxFile < 0 {
		return r, errors.New("search/extract request: bad fields")
	}
	return r, nil
}

func decodeExtracted(b []byte, maxText int64) (Extracted, error) {
	var x Extracted
	if len(b) > maxExtractResponse {
		return x, fmt.Errorf("search/extract answer of %d bytes: too large", len(b))
	}
	if err := decMode.Unmarshal(b, &x); err != nil {
		return x, fmt.Errorf("decode search/extract answer: %w", err)
	}
	if maxText < 0 {
		maxText = 0
	}
	x.Text = cleanText([]byte(x.Text), maxText)
	for _, s := range []*string{&x.Mime, &x.Camera, &x.Lens, &x.Artist, &x.Album, &x.Title, &x.Genre, &x.Failed} {
		*s = cleanText([]byte(*s), 1024)
	}
	return x, nil
}

// extractRemote asks the holders of a file's first chunk to extract it.
func (x *Index) extractRemote(ctx context.Context, d *entryDoc) (Extracted, error) {
	id, _ := firstChunk(d.content)
	req, err := cbor.Marshal(extractRequest{Inode: d.inode, Version: d.version, Name: d.name,
		MaxText: x.cfg.Limits.MaxText, MaxFile: x.cfg.Limits.MaxFile})
	if err != nil {
		return Extracted{}, err
	}
	var errs []error
	for _, m := range x.cfg.Remote.Holders(chunk.ID(id)) {
		cctx, cancel := context.WithTimeout(ctx, extractTimeout)
		resp, err := x.cfg.Remote.Call(cctx, m, MethodExtract, req)
		cancel()
		if err == nil {
			var ex Extracted
			if ex, err = decodeExtracted(resp, x.cfg.Limits.MaxText); err == nil {
				x.stats.extractedRemote.Add(1)
				return ex, nil
			}
		}
		x.stats.remoteFailures.Add(1)
		errs = append(errs, fmt.Errorf("%s: %w", m, err))
	}
	return Extracted{}, fmt.Errorf("%w: %w", errNoHolder, errors.Join(errs...))
}

// HandleExtract serves MethodExtract: it extracts a content version whose
// first chunk this node holds (else it refuses: the asker tries the next
// holder) and answers what was found.
func (x *Index) HandleExtract(ctx context.Context, b []byte) ([]byte, error) {
	r, err := decodeExtractRequest(b)
	if err != nil {
		return nil, err
	}
	var c crdt.Content
	if err := x.fs.Meta().View(func(v *crdt.View) error {
		var err error
		c, err = v.Version(crdt.Ref{Inode: r.Inode, Version: r.Version})
		return err
	}); err != nil {
		return nil, fmt.Errorf("search/extract: %w", err)
	}
	if !x.heldHere(ctx, c) {
		return nil, errors.New("search/extract: this member does not hold that content")
	}
	l := Limits{MaxText: min(r.MaxText, x.cfg.Limits.MaxText), MaxFile: min(r.MaxFile, x.cfg.Limits.MaxFile)}
	if r.MaxText < 0 {
		l.MaxText = -1
	}
	ex, err := x.extractLocal(ctx, r.Inode, r.Version, r.Name, l)
	if err != nil {
		return nil, fmt.Errorf("search/extract: %w", err)
	}
	x.stats.served.Add(1)
	return cbor.Marshal(ex)
}
