package transport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// Wire constants. See doc.go "# Wire format".
const (
	wireVersion = 1
	headerLen   = 6

	frameHello         = 1 // payload: CBOR hello
	frameRequest       = 2 // payload: CBOR request
	frameResponse      = 3 // payload: CBOR response
	frameStreamRequest = 4 // payload: CBOR request; raw body bytes follow until FIN

	// maxHelloLen bounds the hello frame independently of MaxMessage.
	maxHelloLen = 4096
	// maxNodeIDLen and maxMethodLen bound the strings in control messages.
	maxNodeIDLen = 256
	maxMethodLen = 256
	// eagerAlloc is the largest payload allocated up front; longer payloads
	// grow as bytes actually arrive, so a lying length costs the attacker
	// the bandwidth, not us the memory.
	eagerAlloc = 1 << 20
)

// hello is the first message each side sends on a new connection.
type hello struct {
	V     uint     `cbor:"v"`
	Node  string   `cbor:"node"`
	Proof []byte   `cbor:"proof,omitempty"`
	Caps  []string `cbor:"caps,omitempty"`
}

// request opens every RPC stream.
type request struct {
	Method string `cbor:"m"`
	Body   []byte `cbor:"b,omitempty"`
}

// response answers a request. Code is one of the resp* constants.
type response struct {
	OK    bool   `cbor:"ok"`
	Code  uint   `cbor:"code,omitempty"`
	Error string `cbor:"error,omitempty"`
	Body  []byte `cbor:"b,omitempty"`
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
		MaxArrayElements: 64,
		MaxMapPairs:      16,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// writeFrame writes one frame. It does not check MaxMessage; callers do.
func writeFrame(w io.Writer, typ byte, payload []byte) error {
	var hdr [headerLen]byte
	hdr[0] = wireVersion
	hdr[1] = typ
	binary.BigEndian.PutUint32(hdr[2:], uint32(len(payload)))
	if len(payload) == 0 {
		_, err := w.Write(hdr[:])
		return err
	}
	if len(payload) <= 64<<10 {
		buf := make([]byte, 0, headerLen+len(payload))
		buf = append(append(buf, hdr[:]...), payload...)
		_, err := w.Write(buf)
		return err
	}
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// readFrame reads one frame whose payload may be at most max bytes. An
// over-long length is rejected from the header alone (ErrMessageTooLarge);
// nothing of that size is allocated.
func readFrame(r io.Reader, max int) (typ byte, payload []byte, err error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, nil, fmt.Errorf("%w: truncated frame header", ErrProtocol)
		}
		return 0, nil, err
	}
	if hdr[0] != wireVersion {
		return 0, nil, fmt.Errorf("%w: unknown wire version %d", ErrProtocol, hdr[0])
	}
	typ = hdr[1]
	if typ < frameHello || typ > frameStreamRequest {
		return 0, nil, fmt.Errorf("%w: unknown frame type %d", ErrProtocol, typ)
	}
	n := binary.BigEndian.Uint32(hdr[2:])
	if uint64(n) > uint64(max) {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes, limit %d", ErrMessageTooLarge, n, max)
	}
	if n <= eagerAlloc {
		payload = make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return 0, nil, fmt.Errorf("%w: truncated frame: %v", ErrProtocol, err)
		}
		return typ, payload, nil
	}
	var buf bytes.Buffer
	buf.Grow(eagerAlloc)
	got, err := io.CopyN(&buf, r, int64(n))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: truncated frame (%d of %d bytes): %v", ErrProtocol, got, n, err)
	}
	return typ, buf.Bytes(), nil
}

// expectEOF checks that the peer closed its side after the last frame.
// Reading to EOF also lets quic-go complete the stream and release credit.
func expectEOF(r io.Reader) error {
	var one [1]byte
	n, err := r.Read(one[:])
	for n == 0 && err == nil {
		n, err = r.Read(one[:])
	}
	if n > 0 {
		return fmt.Errorf("%w: trailing bytes after frame", ErrProtocol)
	}
	if err == io.EOF {
		return nil
	}
	return err
}

func decodeHello(p []byte) (hello, error) {
	var h hello
	if err := decMode.Unmarshal(p, &h); err != nil {
		return h, fmt.Errorf("%w: hello: %v", ErrProtocol, err)
	}
	if h.Node == "" || len(h.Node) > maxNodeIDLen || !utf8.ValidString(h.Node) {
		return h, fmt.Errorf("%w: hello: bad node id", ErrProtocol)
	}
	if len(h.Proof) != 0 && len(h.Proof) != proofLen {
		return h, fmt.Errorf("%w: hello: proof of %d bytes", ErrProtocol, len(h.Proof))
	}
	return h, nil
}

func decodeRequest(p []byte) (request, error) {
	var q request
	if err := decMode.Unmarshal(p, &q); err != nil {
		return q, fmt.Errorf("%w: request: %v", ErrProtocol, err)
	}
	if q.Method == "" || len(q.Method) > maxMethodLen {
		return q, fmt.Errorf("%w: request: bad method", ErrProtocol)
	}
	return q, nil
}

func decodeResponse(p []byte) (response, error) {
	var r response
	if err := decMode.Unmarshal(p, &r); err != nil {
		return r, fmt.Errorf("%w: response: %v", ErrProtocol, err)
	}
	return r, nil
}

func marshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		// Only our own fixed structs are marshalled; this cannot fail.
		panic(fmt.Sprintf("transport: cbor marshal %T: %v", v, err))
	}
	return b
}
