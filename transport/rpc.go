package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// Call sends req to method on the node at addr ("host:port" of its QUIC
// listener) and returns the response body. peerID, if not empty, must match
// the id the peer authenticates with. The deadline is ctx's, or RPCTimeout
// if ctx has none; cancelling ctx resets the stream.
//
// Errors: *RemoteError for a handler error; ErrUnauthorized, ErrPeerMismatch,
// ErrMessageTooLarge, ErrProtocol, ErrClosed (errors.Is); ctx.Err() on
// cancellation; anything else is a network failure.
func (t *Transport) Call(ctx context.Context, addr, peerID, method string, req []byte) ([]byte, error) {
	if method == "" || len(method) > maxMethodLen {
		return nil, fmt.Errorf("transport: bad method name %q", method)
	}
	if strings.HasPrefix(method, "clusterf/") && method != pingMethod {
		return nil, fmt.Errorf("transport: method prefix clusterf/ is reserved")
	}
	payload := marshal(request{Method: method, Body: req})
	if len(payload) > t.cfg.MaxMessage {
		return nil, fmt.Errorf("transport: call %s: request of %d bytes (with envelope), limit %d: %w", method, len(payload), t.cfg.MaxMessage, ErrMessageTooLarge)
	}
	ctx, cancel := t.rpcContext(ctx)
	defer cancel()
	str, pc, err := t.openStream(ctx, addr, peerID)
	if err != nil {
		return nil, fmt.Errorf("transport: call %s on %s: %w", method, addr, err)
	}
	t.sent.Add(1)
	stop := context.AfterFunc(ctx, func() {
		str.CancelRead(streamCanceled)
		str.CancelWrite(streamCanceled)
	})
	defer stop()
	// No stream deadline: the AfterFunc above resets the stream when ctx
	// ends, so the caller sees ctx's error rather than a racing timeout.
	resp, err := t.roundTrip(str, payload)
	if err != nil {
		str.CancelRead(streamCanceled)
		str.CancelWrite(streamCanceled)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("transport: call %s on %s: %w", method, addr, context.Cause(ctx))
		}
		return nil, fmt.Errorf("transport: call %s on %s: %w", method, addr, err)
	}
	if err := responseError(pc.id, method, resp); err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (t *Transport) roundTrip(str *quic.Stream, payload []byte) (response, error) {
	if err := writeFrame(str, frameRequest, payload); err != nil {
		return response{}, mapConnError(err)
	}
	if err := str.Close(); err != nil {
		return response{}, mapConnError(err)
	}
	typ, p, err := readFrame(str, t.cfg.MaxMessage)
	if err != nil {
		return response{}, mapConnError(err)
	}
	if typ != frameResponse {
		return response{}, fmt.Errorf("%w: expected response, got frame type %d", ErrProtocol, typ)
	}
	resp, err := decodeResponse(p)
	if err != nil {
		return response{}, err
	}
	if err := expectEOF(str); err != nil {
		return response{}, mapConnError(err)
	}
	return resp, nil
}

func responseError(peer, method string, r response) error {
	if r.OK {
		return nil
	}
	switch r.Code {
	case respTooLarge:
		return fmt.Errorf("transport: call %s on %s: %w: %s", method, peer, ErrMessageTooLarge, r.Error)
	case respProtocol:
		return fmt.Errorf("transport: call %s on %s: %w: %s", method, peer, ErrProtocol, r.Error)
	default:
		return &RemoteError{Peer: peer, Method: method, Message: r.Error}
	}
}

func (t *Transport) rpcContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, t.cfg.RPCTimeout)
}

// openStream opens a stream to addr, re-dialing once if a cached connection
// turns out to be dead before anything was sent on it.
func (t *Transport) openStream(ctx context.Context, addr, peerID string) (*quic.Stream, *peerConn, error) {
	for attempt := 0; ; attempt++ {
		pc, err := t.getConn(ctx, addr, peerID)
		if err != nil {
			return nil, nil, err
		}
		str, err := pc.conn.OpenStreamSync(ctx)
		if err == nil {
			return str, pc, nil
		}
		if ctx.Err() != nil {
			return nil, nil, context.Cause(ctx)
		}
		if attempt > 0 || pc.conn.Context().Err() == nil {
			return nil, nil, mapConnError(err)
		}
		t.unregisterConnFor(pc)
	}
}

func (t *Transport) unregisterConnFor(pc *peerConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns[pc.addr] == pc {
		delete(t.conns, pc.addr)
	}
}

// Ping measures a round trip of an empty RPC to addr.
func (t *Transport) Ping(ctx context.Context, addr string) (time.Duration, error) {
	start := time.Now()
	if _, err := t.Call(ctx, addr, "", pingMethod, nil); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// CallStream is Call for bulk data: req is the small CBOR-framed request,
// body (may be nil) is streamed raw to the peer's StreamHandler while the
// response is read. respBody is the handler's output; the caller must Close
// it. ctx must stay alive until respBody is closed: cancelling it resets
// the stream. RPCTimeout (when ctx has no deadline) bounds only the wait
// for the response header, not the transfer.
func (t *Transport) CallStream(ctx context.Context, addr, peerID, method string, req []byte, body io.Reader) (io.ReadCloser, error) {
	if method == "" || len(method) > maxMethodLen || strings.HasPrefix(method, "clusterf/") {
		return nil, fmt.Errorf("transport: bad method name %q", method)
	}
	payload := marshal(request{Method: method, Body: req})
	if len(payload) > t.cfg.MaxMessage {
		return nil, fmt.Errorf("transport: call %s: request of %d bytes, limit %d: %w", method, len(payload), t.cfg.MaxMessage, ErrMessageTooLarge)
	}
	hctx, hcancel := t.rpcContext(ctx)
	defer hcancel()
	str, pc, err := t.openStream(hctx, addr, peerID)
	if err != nil {
		return nil, fmt.Errorf("transport: call %s on %s: %w", method, addr, err)
	}
	t.sent.Add(1)
	s := &clientStream{str: str}
	s.stop = context.AfterFunc(ctx, s.abort)
	headerStop := context.AfterFunc(hctx, s.abort)
	defer headerStop()

	if err := writeFrame(str, frameStreamRequest, payload); err != nil {
		s.abort()
		s.stop()
		return nil, fmt.Errorf("transport: call %s on %s: %w", method, addr, mapConnError(err))
	}
	s.upload = make(chan error, 1)
	if !t.spawn(func() { s.upload <- s.copyBody(body) }) {
		s.upload <- ErrClosed
		s.abort()
	}
	typ, p, err := readFrame(str, t.cfg.MaxMessage)
	if err == nil && typ != frameResponse {
		err = fmt.Errorf("%w: expected response, got frame type %d", ErrProtocol, typ)
	}
	var resp response
	if err == nil {
		resp, err = decodeResponse(p)
	}
	if err != nil {
		s.abort()
		s.finish()
		if ctx.Err() != nil || hctx.Err() != nil {
			err = context.Cause(hctx)
		}
		return nil, fmt.Errorf("transport: call %s on %s: %w", method, addr, mapConnError(err))
	}
	if err := responseError(pc.id, method, resp); err != nil {
		s.abort()
		s.finish()
		return nil, err
	}
	return s, nil
}

// clientStream is the respBody of CallStream.
type clientStream struct {
	str    *quic.Stream
	stop   func() bool
	upload chan error
	once   sync.Once
	eof    bool
}

func (s *clientStream) copyBody(body io.Reader) error {
	if body != nil {
		if _, err := io.Copy(s.str, body); err != nil {
			s.str.CancelWrite(streamCanceled)
			return err
		}
	}
	return s.str.Close()
}

func (s *clientStream) abort() {
	s.str.CancelRead(streamCanceled)
	s.str.CancelWrite(streamCanceled)
}

// finish waits for the upload goroutine and releases the ctx hook.
func (s *clientStream) finish() {
	s.once.Do(func() {
		if s.upload != nil {
			<-s.upload
		}
		s.stop()
	})
}

func (s *clientStream) Read(p []byte) (int, error) {
	n, err := s.str.Read(p)
	if err == io.EOF {
		s.eof = true
	} else if err != nil {
		err = mapConnError(err)
	}
	return n, err
}

// Close stops reading (resetting the stream if the body was not read to
// EOF) and waits for the request body upload to end.
func (s *clientStream) Close() error {
	if !s.eof {
		s.abort()
	}
	s.finish()
	return nil
}

// serveStream serves one RPC stream from an authenticated peer.
func (t *Transport) serveStream(pc *peerConn, str *quic.Stream) {
	t.served.Add(1)
	str.SetReadDeadline(time.Now().Add(t.cfg.RPCTimeout))
	typ, p, err := readFrame(str, t.cfg.MaxMessage)
	if err != nil {
		t.log.Debug("bad request", "peer", pc.id, "err", err)
		switch {
		case errors.Is(err, ErrMessageTooLarge):
			str.CancelRead(streamTooLarge)
			t.writeResponse(str, response{Code: respTooLarge, Error: err.Error()})
		case errors.Is(err, ErrProtocol):
			str.CancelRead(streamProtocol)
			t.writeResponse(str, response{Code: respProtocol, Error: err.Error()})
		default:
			str.CancelRead(streamCanceled)
			str.CancelWrite(streamCanceled)
		}
		return
	}
	if typ != frameRequest && typ != frameStreamRequest {
		str.CancelRead(streamProtocol)
		t.writeResponse(str, response{Code: respProtocol, Error: fmt.Sprintf("unexpected frame type %d", typ)})
		return
	}
	req, err := decodeRequest(p)
	if err != nil {
		str.CancelRead(streamProtocol)
		t.writeResponse(str, response{Code: respProtocol, Error: err.Error()})
		return
	}
	peer := pc.info()
	if typ == frameStreamRequest {
		str.SetReadDeadline(time.Time{})
		t.serveBulk(pc, peer, str, req)
		return
	}
	if err := expectEOF(str); err != nil {
		str.CancelRead(streamProtocol)
		str.CancelWrite(streamProtocol)
		return
	}
	ctx, cancel := context.WithTimeout(str.Context(), t.cfg.RPCTimeout)
	defer cancel()
	var body []byte
	switch {
	case req.Method == pingMethod:
	case t.cfg.Handler == nil:
		t.writeResponse(str, response{Code: respNoHandler, Error: "no handler"})
		return
	default:
		body, err = t.cfg.Handler.HandleRPC(ctx, peer, req.Method, req.Body)
		if err != nil {
			t.writeResponse(str, response{Code: respHandlerError, Error: err.Error()})
			return
		}
	}
	resp := marshal(response{OK: true, Body: body})
	// MaxMessage is a cluster-wide setting: we assume the caller's limit is ours.
	if len(resp) > t.cfg.MaxMessage {
		t.log.Warn("response too large", "peer", pc.id, "method", req.Method, "bytes", len(resp))
		t.writeResponse(str, response{Code: respTooLarge, Error: fmt.Sprintf("response of %d bytes exceeds limit %d", len(resp), t.cfg.MaxMessage)})
		return
	}
	str.SetWriteDeadline(time.Now().Add(t.cfg.RPCTimeout))
	if err := writeFrame(str, frameResponse, resp); err != nil {
		str.CancelWrite(streamCanceled)
		return
	}
	str.Close()
}

func (t *Transport) writeResponse(str *quic.Stream, r response) {
	str.SetWriteDeadline(time.Now().Add(t.cfg.RPCTimeout))
	if err := writeFrame(str, frameResponse, marshal(r)); err != nil {
		str.CancelWrite(streamCanceled)
		return
	}
	str.Close()
}

// serveBulk runs a StreamHandler for a frameStreamRequest.
func (t *Transport) serveBulk(pc *peerConn, peer PeerInfo, str *quic.Stream, req request) {
	sh, ok := t.cfg.Handler.(StreamHandler)
	if !ok {
		str.CancelRead(streamCanceled)
		t.writeResponse(str, response{Code: respNoHandler, Error: "no stream handler"})
		return
	}
	w := &bulkWriter{t: t, str: str}
	err := sh.HandleStream(str.Context(), peer, req.Method, req.Body, str, w)
	// Whatever the handler did not read is not wanted.
	str.CancelRead(streamCanceled)
	if err != nil {
		if !w.started {
			t.writeResponse(str, response{Code: respHandlerError, Error: err.Error()})
			return
		}
		t.log.Debug("stream handler failed after writing", "peer", pc.id, "method", req.Method, "err", err)
		str.CancelWrite(streamHandlerFailed)
		return
	}
	if !w.started {
		if err := w.start(); err != nil {
			return
		}
	}
	str.Close()
}

// bulkWriter sends the OK response header before the first byte.
type bulkWriter struct {
	t       *Transport
	str     *quic.Stream
	started bool
}

func (w *bulkWriter) start() error {
	w.started = true
	return writeFrame(w.str, frameResponse, marshal(response{OK: true}))
}

func (w *bulkWriter) Write(p []byte) (int, error) {
	if !w.started {
		if err := w.start(); err != nil {
			return 0, err
		}
	}
	return w.str.Write(p)
}
