// Command quicsink is the raw quic-go baseline of BenchmarkReplication
// (bench/replication_test.go): one quic-go stream of a given size between
// two network namespaces, with no clusterf code in the path.
//
//	quicsink -listen 10.99.0.2:4433          # receiver: prints "ready", drains one stream, acks
//	quicsink -send 10.99.0.2:4433 -size N    # sender: prints "bytes=N ns=T"
//
// The receiver accepts one connection, reads one stream to EOF, answers one
// byte and exits. The sender's clock runs from opening the stream (after the
// handshake) until that byte arrives, so it covers every byte having reached
// the receiver. Both ends use a self-signed certificate, ALPN "bench" and the
// flow-control windows of clusterf's transport (transport.New), so the only
// difference to clusterf's chunk pushes is clusterf itself.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"time"

	"github.com/quic-go/quic-go"
)

const alpn = "bench"

// qconf mirrors the windows of transport.New's quic.Config.
func qconf() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           10 * time.Second,
		MaxIdleTimeout:                 60 * time.Second,
		KeepAlivePeriod:                5 * time.Second,
		MaxIncomingStreams:             16,
		MaxIncomingUniStreams:          -1,
		InitialStreamReceiveWindow:     1 << 20,
		MaxStreamReceiveWindow:         16 << 20,
		InitialConnectionReceiveWindow: 2 << 20,
		MaxConnectionReceiveWindow:     64 << 20,
	}
}

func main() {
	listen := flag.String("listen", "", "receive one stream on this UDP address")
	send := flag.String("send", "", "send one stream to this UDP address")
	size := flag.Int64("size", 256<<20, "bytes to send")
	flag.Parse()
	var err error
	switch {
	case *listen != "" && *send == "":
		err = sink(*listen)
	case *send != "" && *listen == "":
		err = sender(*send, *size)
	default:
		err = errors.New("exactly one of -listen and -send")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quicsink:", err)
		os.Exit(1)
	}
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "quicsink"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func sink(addr string) error {
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	ln, err := quic.ListenAddr(addr, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{alpn}, MinVersion: tls.VersionTLS13}, qconf())
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println("ready")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn, err := ln.Accept(ctx)
	if err != nil {
		return err
	}
	str, err := conn.AcceptStream(ctx)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, str)
	if err != nil {
		return err
	}
	if _, err := str.Write([]byte{1}); err != nil {
		return err
	}
	str.Close()
	// Let the ack leave before the connection goes away.
	select {
	case <-conn.Context().Done():
	case <-time.After(5 * time.Second):
	}
	conn.CloseWithError(0, "")
	fmt.Printf("received=%d\n", n)
	return nil
}

func sender(addr string, size int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}, MinVersion: tls.VersionTLS13}, qconf())
	if err != nil {
		return err
	}
	defer conn.CloseWithError(0, "")
	// Random bytes like the clusterf side's files (QUIC does not compress,
	// so this matters little), a 4 MiB buffer sent over and over.
	buf := make([]byte, 4<<20)
	r := mrand.NewChaCha8([32]byte{7})
	r.Read(buf)
	t0 := time.Now()
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := str.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	if err := str.Close(); err != nil {
		return err
	}
	ack := make([]byte, 1)
	if _, err := io.ReadFull(str, ack); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	took := time.Since(t0)
	fmt.Printf("bytes=%d ns=%d\n", size, took.Nanoseconds())
	return nil
}
