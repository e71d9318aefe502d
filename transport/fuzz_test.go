package transport

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// seedFrames are valid and near-valid frames for FuzzReadFrame.
func seedFrames() [][]byte {
	frame := func(typ byte, payload []byte) []byte {
		var b bytes.Buffer
		writeFrame(&b, typ, payload)
		return b.Bytes()
	}
	helloKeyed := marshal(hello{V: 1, Node: "node-a", Proof: bytes.Repeat([]byte{7}, proofLen)})
	helloOpen := marshal(hello{V: 1, Node: "node-b"})
	req := marshal(request{Method: "chunk.get", Body: []byte{1, 2, 3}})
	resp := marshal(response{OK: true, Body: []byte("body")})
	respErr := marshal(response{Code: respHandlerError, Error: "boom"})
	return [][]byte{
		frame(frameHello, helloKeyed),
		frame(frameHello, helloOpen),
		frame(frameRequest, req),
		frame(frameStreamRequest, append(req, "raw body"...)),
		frame(frameResponse, resp),
		frame(frameResponse, respErr),
		append(frame(frameRequest, req), frame(frameResponse, resp)...),
		{1, 2, 0xff, 0xff, 0xff, 0xff},          // huge length
		{2, 2, 0, 0, 0, 1, 0},                   // bad version
		{1, 9, 0, 0, 0, 0},                      // unknown type
		{1, 3, 0, 0, 0, 10, 0xa1},               // truncated
		frame(frameHello, []byte{0xbf, 0xff}),   // indefinite map
		frame(frameRequest, []byte{0xc1, 0x00}), // tag
	}
}

func FuzzReadFrame(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 16
		r := bytes.NewReader(data)
		for range 4 {
			typ, p, err := readFrame(r, max)
			if err != nil {
				if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrMessageTooLarge) && err.Error() != "EOF" {
					t.Fatalf("unexpected error class: %v", err)
				}
				return
			}
			if len(p) > max {
				t.Fatalf("payload %d > max", len(p))
			}
			var re bytes.Buffer
			if err := writeFrame(&re, typ, p); err != nil {
				t.Fatal(err)
			}
			switch typ {
			case frameHello:
				h, err := decodeHello(p)
				if err == nil {
					h2, err := decodeHello(marshal(h))
					if err != nil || h.V != h2.V || h.Node != h2.Node || !bytes.Equal(h.Proof, h2.Proof) || !slices.Equal(h.Caps, h2.Caps) {
						t.Fatalf("hello roundtrip: %+v %+v %v", h, h2, err)
					}
				}
			case frameRequest, frameStreamRequest:
				q, err := decodeRequest(p)
				if err == nil {
					q2, err := decodeRequest(marshal(q))
					if err != nil || q.Method != q2.Method || !bytes.Equal(q.Body, q2.Body) {
						t.Fatalf("request roundtrip: %+v %+v %v", q, q2, err)
					}
				}
			case frameResponse:
				decodeResponse(p)
			}
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzReadFrame from
// seedFrames when CLUSTERF_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	// Without CLUSTERF_WRITE_CORPUS=1 the committed corpus must match the
	// seeds (so it never silently goes stale); with it, it is rewritten.
	write := os.Getenv("CLUSTERF_WRITE_CORPUS") == "1"
	dir := filepath.Join("testdata", "fuzz", "FuzzReadFrame")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seedFrames() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		path := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		if !write {
			if got, err := os.ReadFile(path); err != nil || string(got) != body {
				t.Errorf("%s is stale or missing (err %v): run with CLUSTERF_WRITE_CORPUS=1", path, err)
			}
			continue
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
