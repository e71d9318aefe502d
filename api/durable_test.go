package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

type recSyncer struct {
	calls int
	order *[]string
	err   error
}

func (s *recSyncer) Sync(context.Context) error {
	s.calls++
	*s.order = append(*s.order, "sync")
	return s.err
}

// TestDurableWrites: a changing request is answered only after Sync (the
// first byte waits for it), reads never sync, and a failed Sync turns the
// answer into a 503.
func TestDurableWrites(t *testing.T) {
	for _, tc := range []struct {
		method   string
		syncErr  error
		wantSync int
		wantCode int
	}{
		{http.MethodPut, nil, 1, http.StatusCreated},
		{http.MethodDelete, nil, 1, http.StatusCreated},
		{"MKCOL", nil, 1, http.StatusCreated},
		{http.MethodGet, nil, 0, http.StatusCreated},
		{"PROPFIND", nil, 0, http.StatusCreated},
		{http.MethodPut, errors.New("disk gone"), 1, http.StatusServiceUnavailable},
	} {
		var order []string
		s := &recSyncer{order: &order, err: tc.syncErr}
		h := DurableWrites(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			order = append(order, "changed")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("ok"))
		}), s)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, "/api/files/x", nil))
		if s.calls != tc.wantSync || rec.Code != tc.wantCode {
			t.Errorf("%s (sync err %v): %d syncs, code %d; want %d, %d", tc.method, tc.syncErr, s.calls, rec.Code, tc.wantSync, tc.wantCode)
		}
		if tc.wantSync > 0 && (len(order) != 2 || order[0] != "changed") {
			t.Errorf("%s: order %v, want the change, then the sync", tc.method, order)
		}
	}
	// A handler that writes nothing still syncs once, at its end.
	var order []string
	s := &recSyncer{order: &order}
	DurableWrites(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), s).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil))
	if s.calls != 1 {
		t.Errorf("empty response: %d syncs, want 1", s.calls)
	}
}
