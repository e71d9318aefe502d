package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type echoHandler struct {
	calls atomic.Int64
	fn    func(ctx context.Context, peer PeerInfo, method string, req []byte) ([]byte, error)
	sfn   func(ctx context.Context, peer PeerInfo, method string, req []byte, body io.Reader, resp io.Writer) error
}

func (h *echoHandler) HandleRPC(ctx context.Context, peer PeerInfo, method string, req []byte) ([]byte, error) {
	h.calls.Add(1)
	if h.fn != nil {
		return h.fn(ctx, peer, method, req)
	}
	switch method {
	case "echo":
		return req, nil
	case "fail":
		return nil, errors.New("boom")
	case "whoami":
		return []byte(peer.ID), nil
	}
	return nil, fmt.Errorf("unknown method %q", method)
}

func (h *echoHandler) HandleStream(ctx context.Context, peer PeerInfo, method string, req []byte, body io.Reader, resp io.Writer) error {
	h.calls.Add(1)
	if h.sfn != nil {
		return h.sfn(ctx, peer, method, req, body, resp)
	}
	// "sha": respond with the SHA-256 of the body.
	hh := sha256.New()
	if _, err := io.Copy(hh, body); err != nil {
		return err
	}
	_, err := resp.Write(hh.Sum(nil))
	return err
}

type opt func(*Config)

func withKey(k string) opt {
	return func(c *Config) {
		if k == "" {
			c.ClusterKey = nil
		} else {
			c.ClusterKey = []byte(k)
		}
	}
}
func withMax(n int) opt             { return func(c *Config) { c.MaxMessage = n } }
func withLogger(l *slog.Logger) opt { return func(c *Config) { c.Logger = l } }

// startTransport starts a served Transport on 127.0.0.1 and registers Close.
func startTransport(t testing.TB, id string, h Handler, opts ...opt) *Transport {
	t.Helper()
	cfg := Config{NodeID: id, ClusterKey: []byte("test cluster key"), Listen: "127.0.0.1:0", Handler: h, RPCTimeout: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tr.Serve(context.Background()) }()
	t.Cleanup(func() {
		tr.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return tr
}

func ctxT(t testing.TB) context.Context {
	// Generous: an 8 MiB echo under the race detector on a loaded 2-core
	// CI machine took more than 10 s.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestRoundTrip(t *testing.T) {
	h := &echoHandler{}
	srv := startTransport(t, "srv", h)
	cli := startTransport(t, "cli", &echoHandler{})
	ctx := ctxT(t)
	addr := srv.Addr().String()

	got, err := cli.Call(ctx, addr, "srv", "echo", []byte("hello"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	got, err = cli.Call(ctx, addr, "", "whoami", nil)
	if err != nil || string(got) != "cli" {
		t.Fatalf("whoami = %q, %v", got, err)
	}
	_, err = cli.Call(ctx, addr, "", "fail", nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "boom" || re.Peer != "srv" {
		t.Fatalf("fail: got %v, want RemoteError boom", err)
	}
	if _, err := cli.Call(ctx, addr, "someone-else", "echo", nil); !errors.Is(err, ErrPeerMismatch) {
		t.Fatalf("wrong peer id: %v", err)
	}
	if rtt, err := cli.Ping(ctx, addr); err != nil || rtt <= 0 {
		t.Fatalf("ping: %v %v", rtt, err)
	}
	// The server can call back over the same connection.
	got, err = srv.Call(ctx, cli.Addr().String(), "cli", "whoami", nil)
	if err != nil || string(got) != "srv" {
		t.Fatalf("reverse whoami = %q, %v", got, err)
	}
	if s := srv.Stats(); s.Dialed != 0 {
		t.Errorf("server dialed %d connections; want reuse of the inbound one", s.Dialed)
	}
	peers := cli.Peers()
	if len(peers) != 1 || peers[0].ID != "srv" || peers[0].Inbound || peers[0].ConnectedSince.IsZero() {
		t.Fatalf("Peers = %+v", peers)
	}
}

func TestConcurrentRPCsReuseOneConnection(t *testing.T) {
	h := &echoHandler{}
	srv := startTransport(t, "srv", h)
	cli := startTransport(t, "cli", nil)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				msg := []byte(fmt.Sprintf("%d-%d", g, i))
				got, err := cli.Call(ctx, srv.Addr().String(), "srv", "echo", msg)
				if err != nil || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("call %s: %q %v", msg, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := cli.Stats(); s.Dialed != 1 || s.RPCsSent != 256 {
		t.Errorf("client stats %+v: want 1 dial, 256 RPCs", s)
	}
	if s := srv.Stats(); s.Accepted != 1 {
		t.Errorf("server accepted %d connections, want 1", s.Accepted)
	}
}

func TestMessageLimits(t *testing.T) {
	const max = 4 << 20
	h := &echoHandler{fn: func(ctx context.Context, peer PeerInfo, method string, req []byte) ([]byte, error) {
		if method == "big-response" {
			return make([]byte, max), nil
		}
		return req, nil
	}}
	srv := startTransport(t, "srv", h, withMax(max))
	cli := startTransport(t, "cli", nil, withMax(max))
	ctx := ctxT(t)
	addr := srv.Addr().String()

	near := bytes.Repeat([]byte{0xab}, max-64) // envelope is < 64 bytes
	got, err := cli.Call(ctx, addr, "", "echo", near)
	if err != nil || !bytes.Equal(got, near) {
		t.Fatalf("near-limit echo: len %d, %v", len(got), err)
	}
	calls := h.calls.Load()
	_, err = cli.Call(ctx, addr, "", "echo", make([]byte, max+1))
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("over-limit request: %v, want ErrMessageTooLarge", err)
	}
	if h.calls.Load() != calls {
		t.Fatal("handler ran for an over-limit request")
	}
	_, err = cli.Call(ctx, addr, "", "big-response", nil)
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("over-limit response: %v, want ErrMessageTooLarge", err)
	}

	// A peer with a smaller limit refuses from the header alone.
	small := startTransport(t, "small", h, withMax(1<<20))
	_, err = cli.Call(ctx, small.Addr().String(), "", "echo", make([]byte, 2<<20))
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("request over peer's limit: %v, want ErrMessageTooLarge", err)
	}
	// The connection is still usable afterwards.
	if _, err := cli.Call(ctx, small.Addr().String(), "", "echo", []byte("x")); err != nil {
		t.Fatalf("call after refusal: %v", err)
	}
}

func TestWrongKeyRefusedBothSides(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	hs, hc := &echoHandler{}, &echoHandler{}
	srv := startTransport(t, "srv", hs, withKey("key-A"), withLogger(logger))
	cli := startTransport(t, "cli", hc, withKey("key-B"), withLogger(logger))
	ctx := ctxT(t)

	_, err := cli.Call(ctx, srv.Addr().String(), "", "echo", []byte("x"))
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("client: %v, want ErrUnauthorized", err)
	}
	_, err = srv.Call(ctx, cli.Addr().String(), "", "echo", []byte("x"))
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("server as caller: %v, want ErrUnauthorized", err)
	}
	if hs.calls.Load() != 0 || hc.calls.Load() != 0 {
		t.Fatal("a handler was invoked for an unauthorized peer")
	}
	if srv.Stats().AuthFailures == 0 || cli.Stats().AuthFailures == 0 {
		t.Fatalf("auth failures not counted: srv %+v cli %+v", srv.Stats(), cli.Stats())
	}
	if !strings.Contains(logs.String(), "bad proof") {
		t.Errorf("refusal not logged; logs:\n%s", logs.String())
	}
	if len(srv.Peers()) != 0 || len(cli.Peers()) != 0 {
		t.Fatal("unauthorized peer listed in Peers")
	}
}

func TestKeylessAndKeyedRefuseEachOther(t *testing.T) {
	h := &echoHandler{}
	keyed := startTransport(t, "keyed", h, withKey("k"))
	open := startTransport(t, "open", h, withKey(""))
	ctx := ctxT(t)
	if _, err := open.Call(ctx, keyed.Addr().String(), "", "echo", nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("open -> keyed: %v", err)
	}
	if _, err := keyed.Call(ctx, open.Addr().String(), "", "echo", nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("keyed -> open: %v", err)
	}
	if h.calls.Load() != 0 {
		t.Fatal("handler invoked")
	}
}

func TestOpenMode(t *testing.T) {
	srv := startTransport(t, "srv", &echoHandler{}, withKey(""))
	cli := startTransport(t, "cli", nil, withKey(""))
	got, err := cli.Call(ctxT(t), srv.Addr().String(), "srv", "echo", []byte("open"))
	if err != nil || string(got) != "open" {
		t.Fatalf("open mode: %q %v", got, err)
	}
}

func TestSelfIDRefused(t *testing.T) {
	h := &echoHandler{}
	a := startTransport(t, "same", h)
	b := startTransport(t, "same", h)
	if _, err := b.Call(ctxT(t), a.Addr().String(), "", "echo", nil); !errors.Is(err, ErrSelfConnection) {
		t.Fatalf("got %v, want ErrSelfConnection", err)
	}
}

func TestContextCancelResetsStream(t *testing.T) {
	handlerDone := make(chan error, 1)
	h := &echoHandler{fn: func(ctx context.Context, peer PeerInfo, method string, req []byte) ([]byte, error) {
		if method != "block" {
			return req, nil
		}
		<-ctx.Done()
		handlerDone <- ctx.Err()
		return nil, ctx.Err()
	}}
	srv := startTransport(t, "srv", h)
	cli := startTransport(t, "cli", nil)
	// Connect first: the deadline below is for the call's stream, not the
	// handshake (which a loaded machine may not finish in 200 ms).
	if _, err := cli.Call(ctxT(t), srv.Addr().String(), "", "warm", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := cli.Call(ctx, srv.Addr().String(), "", "block", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("call took %v", d)
	}
	select {
	case <-handlerDone:
	case <-time.After(5 * time.Second):
		t.Fatal("handler ctx not cancelled after caller gave up")
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	h := &echoHandler{}
	cfg := Config{NodeID: "srv", ClusterKey: []byte("k"), Listen: "127.0.0.1:0", Handler: h}
	srv1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go srv1.Serve(context.Background())
	addr := srv1.Addr().String()
	cli := startTransport(t, "cli", nil, withKey("k"))
	ctx := ctxT(t)
	if _, err := cli.Call(ctx, addr, "srv", "echo", []byte("1")); err != nil {
		t.Fatal(err)
	}
	srv1.Close()
	// The client learns of the close from the CONNECTION_CLOSE frame.
	for end := time.Now().Add(3 * time.Second); len(cli.Peers()) > 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(cli.Peers()); n > 0 {
		t.Logf("client still lists %d peers after server Close", n)
	}

	cfg.Listen = addr
	srv2, err := New(cfg)
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	go srv2.Serve(context.Background())
	defer srv2.Close()
	got, err := cli.Call(ctx, addr, "srv", "echo", []byte("2"))
	if err != nil || string(got) != "2" {
		t.Fatalf("call after restart: %q %v", got, err)
	}
	if s := cli.Stats(); s.Dialed != 2 {
		t.Errorf("client dialed %d times, want 2", s.Dialed)
	}
}

func TestDialBackoff(t *testing.T) {
	cli := startTransport(t, "cli", nil)
	// A bound UDP socket that never answers.
	dead, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	addr := dead.LocalAddr().String()
	cli.cfg.HandshakeTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := cli.Call(ctx, addr, "", "echo", nil); err == nil {
		t.Fatal("call to dead address succeeded")
	}
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := cli.Call(short, addr, "", "echo", nil); !errors.Is(err, ErrBackoff) {
		t.Fatalf("second call: %v, want ErrBackoff", err)
	}
}

func TestCallStream(t *testing.T) {
	h := &echoHandler{}
	h.sfn = func(ctx context.Context, peer PeerInfo, method string, req []byte, body io.Reader, resp io.Writer) error {
		switch method {
		case "sha":
			hh := sha256.New()
			if _, err := io.Copy(hh, body); err != nil {
				return err
			}
			_, err := resp.Write(hh.Sum(nil))
			return err
		case "echo":
			_, err := io.Copy(resp, body)
			return err
		case "fail-early":
			return errors.New("no such chunk")
		case "fail-late":
			resp.Write([]byte("partial"))
			return errors.New("disk error")
		}
		return errors.New("unknown")
	}
	srv := startTransport(t, "srv", h)
	cli := startTransport(t, "cli", nil)
	ctx := ctxT(t)
	addr := srv.Addr().String()

	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	rc, err := cli.CallStream(ctx, addr, "", "sha", nil, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := io.ReadAll(rc)
	rc.Close()
	want := sha256.Sum256(data)
	if err != nil || !bytes.Equal(sum, want[:]) {
		t.Fatalf("sha: %x %v", sum, err)
	}

	// Full-duplex echo larger than the flow-control windows.
	rc, err = cli.CallStream(ctx, addr, "", "echo", nil, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}

	_, err = cli.CallStream(ctx, addr, "", "fail-early", nil, bytes.NewReader(data))
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "no such chunk" {
		t.Fatalf("fail-early: %v", err)
	}
	// A failure after data was sent resets the stream: the caller sees an
	// error from CallStream or from Read (QUIC may discard the unread
	// prefix), never a clean EOF.
	rc, err = cli.CallStream(ctx, addr, "", "fail-late", nil, nil)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "handler failed") {
		t.Fatalf("fail-late: %v; want a reset stream", err)
	}
	// Connection still fine.
	if _, err := cli.Call(ctx, addr, "", "echo", []byte("x")); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWaitsNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		blocked := make(chan struct{})
		h := &echoHandler{fn: func(ctx context.Context, _ PeerInfo, method string, req []byte) ([]byte, error) {
			if method == "block" {
				close(blocked)
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return req, nil
		}}
		a, err := New(Config{NodeID: "a", ClusterKey: []byte("k"), Listen: "127.0.0.1:0", Handler: h})
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(Config{NodeID: "b", ClusterKey: []byte("k"), Listen: "127.0.0.1:0", Handler: h})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		serveDone := make(chan struct{}, 2)
		go func() { a.Serve(ctx); serveDone <- struct{}{} }()
		go func() { b.Serve(ctx); serveDone <- struct{}{} }()
		for i := range 10 {
			if _, err := a.Call(ctx, b.Addr().String(), "b", "echo", []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Call(ctx, a.Addr().String(), "a", "echo", []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		// A blocked handler must be released by Close.
		go a.Call(context.Background(), b.Addr().String(), "", "block", nil)
		<-blocked
		a.Close()
		b.Close()
		<-serveDone
		<-serveDone
		if _, err := a.Call(context.Background(), b.Addr().String(), "", "echo", nil); !errors.Is(err, ErrClosed) {
			t.Errorf("call after Close: %v, want ErrClosed", err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after Close\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestServeStopsOnContext(t *testing.T) {
	tr, err := New(Config{NodeID: "x", Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tr.Serve(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	tr.Close()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
