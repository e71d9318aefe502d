package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestToken(t *testing.T) {
	if _, err := New(Config{FS: newEnv(t, Config{}).fs, RequireToken: true}); err == nil {
		t.Fatal("New accepted RequireToken without a Token")
	}
	e := newEnv(t, Config{Token: "s3cret", RequireToken: true, Cluster: &fakeCluster{rf: 2}})
	for _, p := range []string{"/status", "/api/files/", "/api/metrics", "/debug/pprof/", "/api/openapi.json", "/no/such/route"} {
		r, b := e.do("GET", p, nil)
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), `"error"`) || r.Header.Get("WWW-Authenticate") != `Basic realm="clusterf"` {
			t.Errorf("GET %s without token: %d %q %v", p, r.StatusCode, b, r.Header)
		}
	}
	e.wantErr(401, "PUT", "/api/files/x", strings.NewReader("x"))
	e.wantErr(401, "GET", "/status", nil, "Authorization", "Bearer wrong")
	e.wantErr(401, "GET", "/status", nil, "Authorization", "Bearer s3cre")
	e.wantErr(401, "GET", "/status", nil, "Authorization", "Basic "+basic("s3cret", "user"))

	e.want(200, "GET", "/status", nil, "Authorization", "Bearer s3cret")
	e.want(200, "GET", "/status", nil, "Authorization", "bearer s3cret")
	e.want(200, "GET", "/status", nil, "Authorization", "Basic "+basic("anyone", "s3cret"))
	e.want(201, "PUT", "/api/files/x", strings.NewReader("x"), "Authorization", "Bearer s3cret")
	if _, err := e.fs.Walk(t.Context(), "x"); err != nil {
		t.Errorf("authorized PUT did not land: %v", err)
	}

	// Not required: no check at all.
	open := newEnv(t, Config{Token: "s3cret", Cluster: &fakeCluster{rf: 2}})
	open.want(200, "GET", "/status", nil)
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}
