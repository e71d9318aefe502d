package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/quic-go/quic-go"
)

const (
	alpn          = "clusterf/1"
	authLabel     = "clusterf/1 auth"
	exporterLabel = "EXPORTER-clusterf-auth"
	proofLen      = sha256.Size
	roleClient    = "client"
	roleServer    = "server"
)

// newCertificate makes the ephemeral self-signed ECDSA certificate a node
// presents. It carries no identity: peers authenticate by the cluster-key
// proof bound to the TLS exporter, not by the certificate.
func newCertificate(nodeID string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "clusterf"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"clusterf"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// proof computes HMAC-SHA256(key, "clusterf/1 auth" || role || nodeID || exporter).
// role and exporter have fixed lengths, so the concatenation is unambiguous.
func proof(key []byte, role, nodeID string, exporter []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(authLabel))
	m.Write([]byte(role))
	m.Write([]byte(nodeID))
	m.Write(exporter)
	return m.Sum(nil)
}

func exporterValue(c *quic.Conn) ([]byte, error) {
	cs := c.ConnectionState().TLS
	v, err := cs.ExportKeyingMaterial(exporterLabel, nil, 32)
	if err != nil {
		return nil, fmt.Errorf("tls exporter: %w", err)
	}
	return v, nil
}

// authFailure carries the close code to send to the peer with the error.
type authFailure struct {
	code quic.ApplicationErrorCode
	err  error
}

func (a *authFailure) Error() string { return a.err.Error() }
func (a *authFailure) Unwrap() error { return a.err }

// verifyHello checks a peer's hello against our key and role expectations.
func (t *Transport) verifyHello(h hello, peerRole string, exporter []byte) error {
	if h.V != wireVersion {
		return &authFailure{codeProtocol, fmt.Errorf("%w: peer speaks version %d, we speak %d", ErrProtocol, h.V, wireVersion)}
	}
	if h.Node == t.cfg.NodeID {
		return &authFailure{codeSelf, ErrSelfConnection}
	}
	switch {
	case t.cfg.ClusterKey == nil && len(h.Proof) != 0:
		return &authFailure{codeUnauthorized, fmt.Errorf("%w: peer %q has a cluster key, we run in open mode", ErrUnauthorized, h.Node)}
	case t.cfg.ClusterKey != nil && len(h.Proof) == 0:
		return &authFailure{codeUnauthorized, fmt.Errorf("%w: peer %q runs in open mode, we have a cluster key", ErrUnauthorized, h.Node)}
	case t.cfg.ClusterKey != nil:
		want := proof(t.cfg.ClusterKey, peerRole, h.Node, exporter)
		if !hmac.Equal(want, h.Proof) {
			return &authFailure{codeUnauthorized, fmt.Errorf("%w: bad proof from peer %q", ErrUnauthorized, h.Node)}
		}
	}
	return nil
}

func (t *Transport) ourHello(role string, exporter []byte) []byte {
	h := hello{V: wireVersion, Node: t.cfg.NodeID}
	if t.cfg.ClusterKey != nil {
		h.Proof = proof(t.cfg.ClusterKey, role, t.cfg.NodeID, exporter)
	}
	return marshal(h)
}

// clientHandshake runs the hello exchange on a freshly dialed connection:
// we send our hello on the first stream, the server verifies it and answers
// with its own, which we verify. Returns the peer's node id.
func (t *Transport) clientHandshake(ctx context.Context, c *quic.Conn) (string, error) {
	exp, err := exporterValue(c)
	if err != nil {
		return "", &authFailure{codeProtocol, err}
	}
	str, err := c.OpenStreamSync(ctx)
	if err != nil {
		return "", mapConnError(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		str.SetDeadline(dl)
	}
	if err := writeFrame(str, frameHello, t.ourHello(roleClient, exp)); err != nil {
		return "", mapConnError(err)
	}
	str.Close()
	typ, p, err := readFrame(str, maxHelloLen)
	if err != nil {
		err = mapConnError(err)
		if errors.Is(err, ErrProtocol) || errors.Is(err, ErrMessageTooLarge) {
			return "", &authFailure{codeProtocol, err}
		}
		return "", err
	}
	if typ != frameHello {
		return "", &authFailure{codeProtocol, fmt.Errorf("%w: expected hello, got frame type %d", ErrProtocol, typ)}
	}
	h, err := decodeHello(p)
	if err != nil {
		return "", &authFailure{codeProtocol, err}
	}
	if err := t.verifyHello(h, roleServer, exp); err != nil {
		return "", err
	}
	if err := expectEOF(str); err != nil {
		return "", &authFailure{codeProtocol, err}
	}
	return h.Node, nil
}

// serverHandshake is the accepting side of clientHandshake. Nothing on the
// connection is served until it returns successfully.
func (t *Transport) serverHandshake(ctx context.Context, c *quic.Conn) (string, error) {
	exp, err := exporterValue(c)
	if err != nil {
		return "", &authFailure{codeProtocol, err}
	}
	str, err := c.AcceptStream(ctx)
	if err != nil {
		return "", err
	}
	if dl, ok := ctx.Deadline(); ok {
		str.SetDeadline(dl)
	}
	typ, p, err := readFrame(str, maxHelloLen)
	if err != nil {
		if errors.Is(err, ErrProtocol) || errors.Is(err, ErrMessageTooLarge) {
			return "", &authFailure{codeProtocol, err}
		}
		return "", err
	}
	if typ != frameHello {
		return "", &authFailure{codeProtocol, fmt.Errorf("%w: expected hello, got frame type %d", ErrProtocol, typ)}
	}
	h, err := decodeHello(p)
	if err != nil {
		return "", &authFailure{codeProtocol, err}
	}
	if err := t.verifyHello(h, roleClient, exp); err != nil {
		return "", err
	}
	if err := expectEOF(str); err != nil {
		return "", &authFailure{codeProtocol, err}
	}
	if err := writeFrame(str, frameHello, t.ourHello(roleServer, exp)); err != nil {
		return "", err
	}
	str.Close()
	return h.Node, nil
}
