package transport

import (
	"errors"
	"fmt"

	"github.com/quic-go/quic-go"
)

// ErrUnauthorized means the peer failed the cluster-key proof, or one side
// has a cluster key and the other runs in open mode. It is returned to the
// caller of Call/CallStream/Ping and logged on the accepting side.
var ErrUnauthorized = errors.New("transport: peer not authorized (cluster key mismatch)")

// ErrSelfConnection means the peer announced our own node id.
var ErrSelfConnection = errors.New("transport: peer announced our own node id")

// ErrPeerMismatch means the caller asked for a peer id and the node at the
// address authenticated as another node.
var ErrPeerMismatch = errors.New("transport: peer id mismatch")

// ErrMessageTooLarge means a frame is longer than MaxMessage (ours or the
// peer's). The oversized payload is never allocated.
var ErrMessageTooLarge = errors.New("transport: message too large")

// ErrProtocol means the peer sent something that is not valid clusterf/1
// wire format (bad version, unknown frame type, undecodable CBOR).
var ErrProtocol = errors.New("transport: protocol error")

// ErrClosed is returned by operations on a closed Transport.
var ErrClosed = errors.New("transport: closed")

// ErrBackoff means the last dial to the address failed and the caller's
// deadline ends before the next attempt is allowed.
var ErrBackoff = errors.New("transport: dial backoff")

// RemoteError is a handler error returned by the peer. The message is the
// peer's err.Error(); error identity does not cross the wire.
type RemoteError struct {
	Peer    string // node id of the peer that returned the error
	Method  string
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("remote %s: %s: %s", e.Peer, e.Method, e.Message)
}

// Application error codes used with CloseWithError on a QUIC connection.
const (
	codeShutdown     quic.ApplicationErrorCode = 0x0
	codeUnauthorized quic.ApplicationErrorCode = 0x10
	codeProtocol     quic.ApplicationErrorCode = 0x11
	codeSelf         quic.ApplicationErrorCode = 0x12
)

// Stream error codes used with CancelRead/CancelWrite.
const (
	streamCanceled      quic.StreamErrorCode = 0x1
	streamTooLarge      quic.StreamErrorCode = 0x2
	streamHandlerFailed quic.StreamErrorCode = 0x3
	streamProtocol      quic.StreamErrorCode = 0x4
)

// Response status codes carried in the response frame.
const (
	respOK           = 0
	respHandlerError = 1
	respTooLarge     = 2
	respProtocol     = 3
	respNoHandler    = 4
)

// mapConnError turns a QUIC connection close received from the peer into
// one of our sentinels, so callers can use errors.Is.
func mapConnError(err error) error {
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote {
		switch ae.ErrorCode {
		case codeUnauthorized:
			return fmt.Errorf("%w: peer: %s", ErrUnauthorized, ae.ErrorMessage)
		case codeSelf:
			return fmt.Errorf("%w: peer: %s", ErrSelfConnection, ae.ErrorMessage)
		case codeProtocol:
			return fmt.Errorf("%w: peer: %s", ErrProtocol, ae.ErrorMessage)
		}
	}
	var se *quic.StreamError
	if errors.As(err, &se) && se.Remote {
		switch se.ErrorCode {
		case streamTooLarge:
			return fmt.Errorf("%w: rejected by peer", ErrMessageTooLarge)
		case streamProtocol:
			return fmt.Errorf("%w: stream reset by peer", ErrProtocol)
		case streamHandlerFailed:
			return fmt.Errorf("remote stream handler failed after sending data: %w", err)
		}
	}
	return err
}
