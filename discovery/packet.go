package discovery

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

const (
	protocolVersion = 1
	// MaxPacket is the largest announcement we send or accept.
	MaxPacket  = 1200
	macLen     = sha256.Size
	nonceLen   = 8
	maxNodeLen = 256
)

// openClusterID marks an announcement of a node without a cluster key.
var openClusterID = []byte("open")

// announcement is the CBOR body of a discovery packet.
type announcement struct {
	V        uint   `cbor:"v"`
	Cluster  []byte `cbor:"cluster"`
	Node     string `cbor:"node"`
	QUICPort uint16 `cbor:"quic_port"`
	HTTPPort uint16 `cbor:"http_port"`
	TS       int64  `cbor:"ts"` // unix milliseconds
	Nonce    []byte `cbor:"nonce"`
}

// ClusterID is the public cluster identifier derived from a key: the first
// 16 bytes of SHA-256("clusterf cluster id" || key), or "open" without one.
func ClusterID(key []byte) []byte {
	if key == nil {
		return bytes.Clone(openClusterID)
	}
	h := sha256.New()
	h.Write([]byte("clusterf cluster id"))
	h.Write(key)
	return h.Sum(nil)[:16]
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  4,
		MaxArrayElements: 16,
		MaxMapPairs:      16,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// encodePacket returns body || HMAC-SHA256(key, body), or body alone in
// open mode (key == nil).
func encodePacket(a announcement, key []byte) ([]byte, error) {
	body, err := encMode.Marshal(a)
	if err != nil {
		return nil, err
	}
	if key != nil {
		m := hmac.New(sha256.New, key)
		m.Write(body)
		body = m.Sum(body)
	}
	if len(body) > MaxPacket {
		return nil, fmt.Errorf("discovery: announcement of %d bytes exceeds %d", len(body), MaxPacket)
	}
	return body, nil
}

// Reasons a packet is dropped by decodePacket.
var (
	errMalformed = errors.New("malformed")
	errForeign   = errors.New("foreign cluster")
	errBadMAC    = errors.New("bad MAC")
)

// decodePacket parses and authenticates a packet for the cluster with the
// given key and id. It never panics on any input.
func decodePacket(pkt, key, clusterID []byte) (announcement, error) {
	var a announcement
	if len(pkt) > MaxPacket {
		return a, fmt.Errorf("%w: %d bytes", errMalformed, len(pkt))
	}
	rest, err := decMode.UnmarshalFirst(pkt, &a)
	if err != nil {
		return a, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if a.V != protocolVersion {
		return a, fmt.Errorf("%w: version %d", errMalformed, a.V)
	}
	if a.Node == "" || len(a.Node) > maxNodeLen || !utf8.ValidString(a.Node) {
		return a, fmt.Errorf("%w: bad node id", errMalformed)
	}
	if a.QUICPort == 0 {
		return a, fmt.Errorf("%w: quic_port 0", errMalformed)
	}
	if len(a.Nonce) != nonceLen {
		return a, fmt.Errorf("%w: nonce of %d bytes", errMalformed, len(a.Nonce))
	}
	if !bytes.Equal(a.Cluster, clusterID) {
		return a, errForeign
	}
	body := pkt[:len(pkt)-len(rest)]
	if key == nil {
		if len(rest) != 0 {
			return a, fmt.Errorf("%w: %d trailing bytes", errMalformed, len(rest))
		}
		return a, nil
	}
	if len(rest) != macLen {
		return a, fmt.Errorf("%w: MAC of %d bytes", errMalformed, len(rest))
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), rest) {
		return a, errBadMAC
	}
	return a, nil
}
