package api

import (
	"context"
	"errors"
	"net/http"
	"syscall"

	"github.com/labstack/echo/v4"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// errorBody is every error answer: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

// statusError carries an explicit status for an error a handler decided.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func httpErr(status int, msg string) error { return &statusError{status: status, msg: msg} }

// msgInternal is what clients see for a 500 (details are logged).
const msgInternal = "internal server error"

// statusOf maps an error from the core, the cluster or a handler to an HTTP
// status and the message shown to the client. Only 500s hide the message
// (it may name local paths); they are logged by the caller.
func statusOf(err error) (int, string) {
	var se *statusError
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return se.status, se.msg
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok {
			msg = m
		}
		return he.Code, msg
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "upload larger than the limit"
	case errors.Is(err, ErrBadPath), errors.Is(err, crdt.ErrInvalid), errors.Is(err, crdt.ErrNameTooLong):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, crdt.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, crdt.ErrExist), errors.Is(err, crdt.ErrNotEmpty),
		errors.Is(err, crdt.ErrIsDir), errors.Is(err, crdt.ErrNotDir),
		errors.Is(err, crdt.ErrCrossDevice), errors.Is(err, replica.ErrReadOnly),
		errors.Is(err, replica.ErrNotSymlink), errors.Is(err, ErrMemberUp),
		errors.Is(err, replica.ErrSpecial), errors.Is(err, crdt.ErrTooManyLinks):
		return http.StatusConflict, err.Error()
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return http.StatusInsufficientStorage, "insufficient storage"
	case errors.Is(err, replica.ErrClosed):
		return http.StatusServiceUnavailable, "shutting down"
	case errors.Is(err, chunk.ErrCorrupt):
		return http.StatusInternalServerError, "stored data is corrupt (logged)"
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		return 499, "request canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timed out"
	}
	return http.StatusInternalServerError, msgInternal
}

// handleError is echo's HTTPErrorHandler: the one place errors become
// responses.
func (s *Server) handleError(err error, c echo.Context) {
	status, msg := statusOf(err)
	req := c.Request()
	switch {
	case status >= 500 && status != http.StatusServiceUnavailable:
		s.log.Error("http request failed", "method", req.Method, "path", req.URL.Path, "status", status, "err", err)
	case status == 499:
		s.log.Debug("http request canceled", "method", req.Method, "path", req.URL.Path, "err", err)
	}
	if c.Response().Committed {
		return
	}
	if status == 499 {
		status = http.StatusBadRequest // not a real status; the client is gone anyway
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="clusterf"`)
	}
	if req.Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, errorBody{Error: msg})
}
