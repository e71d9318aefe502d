package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// rawQUIC is the baseline: plain quic-go on the same loopback with the
// same QUIC config and TLS, no hello, no framing, no CBOR.
type rawQUIC struct {
	ln   *quic.Listener
	conn *quic.Conn
	done chan struct{}
}

func startRawQUIC(b *testing.B, qconf *quic.Config, srvTLS, cliTLS *tls.Config) *rawQUIC {
	ln, err := quic.ListenAddr("127.0.0.1:0", srvTLS, qconf)
	if err != nil {
		b.Fatal(err)
	}
	r := &rawQUIC{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		c, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		for {
			str, err := c.AcceptStream(context.Background())
			if err != nil {
				return
			}
			go func() {
				// Echo small requests; for bulk, drain and answer one byte.
				var buf bytes.Buffer
				n, _ := io.Copy(&buf, io.LimitReader(str, 1<<16))
				if n == 1<<16 {
					io.Copy(io.Discard, str)
					str.Write([]byte{1})
				} else {
					str.Write(buf.Bytes())
				}
				str.Close()
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.conn, err = quic.DialAddr(ctx, ln.Addr().String(), cliTLS, qconf)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func (r *rawQUIC) close() {
	r.conn.CloseWithError(0, "")
	r.ln.Close()
	<-r.done
}

func (r *rawQUIC) roundTrip(req []byte) ([]byte, error) {
	str, err := r.conn.OpenStreamSync(context.Background())
	if err != nil {
		return nil, err
	}
	if _, err := str.Write(req); err != nil {
		return nil, err
	}
	str.Close()
	return io.ReadAll(str)
}

func (r *rawQUIC) send(body io.Reader) error {
	str, err := r.conn.OpenStreamSync(context.Background())
	if err != nil {
		return err
	}
	if _, err := io.Copy(str, body); err != nil {
		return err
	}
	str.Close()
	ack, err := io.ReadAll(str)
	if err != nil || len(ack) != 1 {
		return errors.Join(errors.New("raw: no ack"), err)
	}
	return nil
}

func benchPair(b *testing.B) (srv, cli *Transport) {
	h := &echoHandler{sfn: func(ctx context.Context, _ PeerInfo, _ string, _ []byte, body io.Reader, resp io.Writer) error {
		if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
		_, err := resp.Write([]byte{1})
		return err
	}}
	return startTransport(b, "srv", h), startTransport(b, "cli", nil)
}

func BenchmarkRPC(b *testing.B) {
	srv, cli := benchPair(b)
	raw := startRawQUIC(b, cli.qconf, srv.serverTLS, cli.clientTLS)
	defer raw.close()
	ctx := context.Background()
	addr := srv.Addr().String()
	req := bytes.Repeat([]byte{'x'}, 128)
	if _, err := cli.Call(ctx, addr, "", "echo", req); err != nil { // dial outside the timing
		b.Fatal(err)
	}
	var rawTime, ourTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := raw.roundTrip(req); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := cli.Call(ctx, addr, "", "echo", req); err != nil {
			b.Fatal(err)
		}
		ourTime += time.Since(t1)
		rawTime += t1.Sub(t0)
	}
	n := float64(b.N)
	b.ReportMetric(float64(ourTime.Microseconds())/n, "clusterf-µs/rpc")
	b.ReportMetric(float64(rawTime.Microseconds())/n, "rawquic-µs/rpc")
	b.ReportMetric(float64(ourTime)/float64(rawTime), "ratio-time")
}

// BenchmarkStream1GiB sends 1 GiB (64 MiB with -short) through CallStream
// and through a raw quic-go stream, alternating, and reports both rates.
func BenchmarkStream1GiB(b *testing.B) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	srv, cli := benchPair(b)
	raw := startRawQUIC(b, cli.qconf, srv.serverTLS, cli.clientTLS)
	defer raw.close()
	ctx := context.Background()
	addr := srv.Addr().String()
	if _, err := cli.Ping(ctx, addr); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(2 * size)
	var rawTime, ourTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := raw.send(io.LimitReader(zeroReader{}, size)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		rc, err := cli.CallStream(ctx, addr, "", "put", nil, io.LimitReader(zeroReader{}, size))
		if err != nil {
			b.Fatal(err)
		}
		ack, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || len(ack) != 1 {
			b.Fatalf("ack %v %v", ack, err)
		}
		ourTime += time.Since(t1)
		rawTime += t1.Sub(t0)
	}
	mb := float64(size) * float64(b.N) / 1e6
	ours, rawRate := mb/ourTime.Seconds(), mb/rawTime.Seconds()
	b.ReportMetric(ours, "clusterf-MB/s")
	b.ReportMetric(rawRate, "rawquic-MB/s")
	b.ReportMetric(ours/rawRate, "ratio")
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
