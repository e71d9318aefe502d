package integration

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testPNG is a 320x240 picture with noise (so its JPEG thumbnail has
// bytes found nowhere else).
func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	noise := randomBytes(320*240, 5)
	for y := range 240 {
		for x := range 320 {
			v := noise[y*320+x]
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), v, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cacheFile returns the one file of the media cache and its content.
func cacheFile(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 1 {
		t.Fatalf("%d files in the media cache, want 1", len(des))
	}
	p := filepath.Join(dir, des[0].Name())
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, b
}

// TestEncryptedMediaCache: a thumbnail made on an encrypted node is cached
// sealed under a keyed name (neither its bytes nor what it is show in the
// data dir), is served from that entry after a restart, and a changed
// entry is noticed and made again, never served.
func TestEncryptedMediaCache(t *testing.T) {
	port := freeTCPPort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	n := StartNode(t, NodeOptions{NodeID: "encm", Env: keyEnv(encKey),
		ExtraArgs: []string{"--http-port", strconv.Itoa(port)}})
	eventually(t, 10*time.Second, "the banner says the node is encrypted", func() string {
		if !strings.Contains(n.Stderr(), "at rest:   encrypted") {
			return "no 'at rest: encrypted' line yet"
		}
		return ""
	})
	const url = "/api/thumbnail/pics/" + encName + ".png?size=128"
	if code, body := httpDo(t, "PUT", base+"/api/files/pics/"+encName+".png", testPNG(t)); code != 201 {
		t.Fatalf("REST PUT: %d %s", code, body)
	}
	code, thumb := httpDo(t, "GET", base+url, nil)
	if code != 200 || len(thumb) < 1000 || thumb[0] != 0xFF || thumb[1] != 0xD8 {
		t.Fatalf("thumbnail: %d, %d bytes", code, len(thumb))
	}
	cache := filepath.Join(n.NodeDir(), "media-cache")
	p, sealed := cacheFile(t, cache)
	if name := filepath.Base(p); !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(name) {
		t.Errorf("media cache file name %q is not a keyed hash", name)
	}
	needles := map[string][]byte{
		"the file name":         []byte(encName),
		"the thumbnail's bytes": thumb[len(thumb)/2 : len(thumb)/2+64],
		"a JPEG header":         thumb[:20],
	}
	grepDir(t, n.NodeDir(), needles)

	// After a restart the entry is read and opened: served as it was,
	// and the same sealed bytes (a hit: an entry made again is sealed
	// with a new random nonce).
	n.Stop()
	grepDir(t, n.NodeDir(), needles)
	n.Restart()
	if code, got := httpDo(t, "GET", base+url, nil); code != 200 || !bytes.Equal(got, thumb) {
		t.Fatalf("thumbnail after restart: %d, %d bytes", code, len(got))
	}
	if p2, b2 := cacheFile(t, cache); p2 != p || !bytes.Equal(b2, sealed) {
		t.Errorf("the cached thumbnail was made again after a restart (%s, was %s)", p2, p)
	}

	// A flipped byte in the entry: noticed, made again, the right bytes served.
	b := bytes.Clone(sealed)
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, got := httpDo(t, "GET", base+url, nil); code != 200 || !bytes.Equal(got, thumb) {
		t.Fatalf("thumbnail with a changed cache entry: %d, %d bytes", code, len(got))
	}
	if !strings.Contains(n.Stderr(), "media cache read failed") || !strings.Contains(n.Stderr(), "failed authentication") {
		t.Errorf("the node did not log the changed cache entry:\n%s", tail(n.Stderr(), 2000))
	}
	if p3, b3 := cacheFile(t, cache); p3 != p || bytes.Equal(b3, b) || bytes.Equal(b3, sealed) {
		t.Errorf("the changed cache entry was not replaced by a new sealed one")
	}
}
