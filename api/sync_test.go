package api

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterf/clusterf/filesync"
	"github.com/clusterf/clusterf/replica"
)

func TestSyncJobs(t *testing.T) {
	fs := replica.TestFS(t, 64<<10)
	m := filesync.NewManager(filesync.Options{FS: fs, Dir: t.TempDir(), Self: "n1"})
	ctx, cancel := context.WithCancel(context.Background())
	m.Start(ctx)
	t.Cleanup(func() { cancel(); m.Close() })
	e := newEnv(t, Config{FS: fs, Sync: m, Token: "tok"})

	local := t.TempDir()
	os.WriteFile(filepath.Join(local, "a.txt"), []byte("alpha"), 0o644)
	body := `{"local":"` + local + `","cluster":"/in","mode":"import"}`
	// Starting a job reads and writes the node's files: the token is
	// required even where the rest of the API does not need it.
	e.wantErr(401, "POST", "/api/sync", strings.NewReader(body))
	e.wantErr(400, "POST", "/api/sync", strings.NewReader(`{"local":"rel/path","cluster":"/in","mode":"import"}`), "Authorization", "Bearer tok")
	e.wantErr(400, "POST", "/api/sync", strings.NewReader(`{"local":"/x","cluster":"/in","mode":"sideways"}`), "Authorization", "Bearer tok")
	st := decode[filesync.Status](t, e.want(202, "POST", "/api/sync", strings.NewReader(body), "Authorization", "Bearer tok"))
	deadline := time.Now().Add(10 * time.Second)
	for st.State != filesync.StateDone {
		if time.Now().After(deadline) || st.State == filesync.StateFailed {
			t.Fatalf("job: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
		st = decode[filesync.Status](t, e.want(200, "GET", "/api/sync/"+st.ID, nil))
	}
	if st.FilesDone != 1 || st.BytesDone != 5 {
		t.Fatalf("%+v", st)
	}
	if _, err := fs.Walk(context.Background(), "/in/a.txt"); err != nil {
		t.Fatal(err)
	}
	var list SyncList
	if err := json.Unmarshal(e.want(200, "GET", "/api/sync", nil), &list); err != nil || len(list.Pairs) != 1 {
		t.Fatalf("list: %v %+v", err, list)
	}
	e.wantErr(404, "GET", "/api/sync/nope", nil)
	e.wantErr(401, "DELETE", "/api/sync/"+st.ID, nil)
	e.want(200, "DELETE", "/api/sync/"+st.ID, nil, "Authorization", "Bearer tok")

	none := newEnv(t, Config{})
	none.wantErr(503, "GET", "/api/sync", nil)
}
