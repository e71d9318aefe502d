package bodywriter

import (
	"bytes"
	"io"
	"net/http/httptest"
	"testing"
)

// countingWriter records the size of every write.
type countingWriter struct {
	*httptest.ResponseRecorder
	sizes []int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.sizes = append(c.sizes, len(p))
	return c.ResponseRecorder.Write(p)
}

// TestLargeWrites copies 1 MiB + 1 into a Large writer through io.Copy
// (as ServeContent does) and checks the bytes and the write sizes.
func TestLargeWrites(t *testing.T) {
	body := bytes.Repeat([]byte("frog"), (1<<20)/4)
	body = append(body, '!')
	cw := &countingWriter{ResponseRecorder: httptest.NewRecorder()}
	// A reader without WriterTo, as ServeContent's io.LimitReader is.
	n, err := io.Copy(Large(cw), io.LimitReader(bytes.NewReader(body), int64(len(body))))
	if err != nil || n != int64(len(body)) {
		t.Fatalf("copied %d, %v", n, err)
	}
	if !bytes.Equal(cw.Body.Bytes(), body) {
		t.Fatal("body differs")
	}
	want := []int{BufSize, BufSize, BufSize, BufSize, 1}
	if len(cw.sizes) != len(want) {
		t.Fatalf("writes %v, want %v", cw.sizes, want)
	}
	for i := range want {
		if cw.sizes[i] != want[i] {
			t.Fatalf("writes %v, want %v", cw.sizes, want)
		}
	}
}
