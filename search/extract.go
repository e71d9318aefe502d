package search

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dhowden/tag"
	"github.com/evanoberholster/imagemeta"
	"github.com/ledongthuc/pdf"
	xhtml "golang.org/x/net/html"
	"golang.org/x/text/unicode/norm"
)

// Extracted is what a file's bytes say about it: its sniffed type, its
// text and its embedded metadata. It is computed where the bytes are
// (locally, or by a holder over the search/extract RPC) and carried by
// the file's index document.
type Extracted struct {
	Mime     string  `cbor:"1,keyasint,omitempty" json:"mime,omitempty"`
	Text     string  `cbor:"2,keyasint,omitempty" json:"-"` // stored in the text field
	Camera   string  `cbor:"3,keyasint,omitempty" json:"camera,omitempty"`
	Lens     string  `cbor:"4,keyasint,omitempty" json:"lens,omitempty"`
	Taken    int64   `cbor:"5,keyasint,omitempty" json:"taken,omitempty"` // unix ns
	GPS      bool    `cbor:"6,keyasint,omitempty" json:"gps,omitempty"`
	Artist   string  `cbor:"7,keyasint,omitempty" json:"artist,omitempty"`
	Album    string  `cbor:"8,keyasint,omitempty" json:"album,omitempty"`
	Title    string  `cbor:"9,keyasint,omitempty" json:"title,omitempty"`
	Genre    string  `cbor:"10,keyasint,omitempty" json:"genre,omitempty"`
	Duration float64 `cbor:"11,keyasint,omitempty" json:"duration,omitempty"` // seconds
	// Failed names the parser that failed ("exif: ..."); the file is
	// still indexed by name and what else was found.
	Failed string `cbor:"12,keyasint,omitempty" json:"failed,omitempty"`
}

// Limits bound what extraction reads and keeps.
type Limits struct {
	// MaxText is the most text kept per file (bytes; default 1 MiB; < 0:
	// no text is extracted).
	MaxText int64
	// MaxFile is the largest file whose content is parsed at all (default
	// 256 MiB); larger files are indexed by name, type and attributes.
	MaxFile int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxText == 0 {
		l.MaxText = 1 << 20
	}
	if l.MaxFile <= 0 {
		l.MaxFile = 256 << 20
	}
	return l
}

// extractKind is what a file's content is parsed as.
type extractKind uint8

const (
	kindNone extractKind = iota
	kindText
	kindHTML
	kindPDF
	kindImage
	kindAudio
)

// extraTypes are extensions Go's mime table may lack.
var extraTypes = map[string]string{
	"md": "text/markdown", "markdown": "text/markdown", "txt": "text/plain", "log": "text/plain",
	"go": "text/x-go", "py": "text/x-python", "rs": "text/x-rust", "c": "text/x-c", "h": "text/x-c",
	"cc": "text/x-c++", "cpp": "text/x-c++", "hpp": "text/x-c++", "java": "text/x-java", "kt": "text/x-kotlin",
	"js": "text/javascript", "mjs": "text/javascript", "ts": "text/x-typescript", "tsx": "text/x-typescript",
	"jsx": "text/javascript", "sh": "text/x-shellscript", "rb": "text/x-ruby", "php": "text/x-php",
	"swift": "text/x-swift", "sql": "text/x-sql", "yaml": "text/yaml", "yml": "text/yaml", "toml": "text/x-toml",
	"ini": "text/plain", "conf": "text/plain", "cfg": "text/plain", "csv": "text/csv", "tsv": "text/tab-separated-values",
	"json": "application/json", "xml": "application/xml", "html": "text/html", "htm": "text/html",
	"css": "text/css", "tex": "text/x-tex", "rst": "text/x-rst", "org": "text/x-org", "srt": "text/plain",
	"pdf": "application/pdf", "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
	"heic": "image/heic", "heif": "image/heif", "tif": "image/tiff", "tiff": "image/tiff", "webp": "image/webp",
	"dng": "image/x-adobe-dng", "cr2": "image/x-canon-cr2", "cr3": "image/x-canon-cr3", "nef": "image/x-nikon-nef",
	"mp3": "audio/mpeg", "flac": "audio/flac", "m4a": "audio/mp4", "ogg": "audio/ogg", "opus": "audio/ogg",
	"wav": "audio/wav", "mp4": "video/mp4", "m4v": "video/mp4", "mov": "video/quicktime", "mkv": "video/x-matroska",
	"webm": "video/webm", "avi": "video/x-msvideo", "zip": "application/zip", "gz": "application/gzip",
	"tar": "application/x-tar", "7z": "application/x-7z-compressed",
}

// extOf is a name's extension, lower case, without the dot.
func extOf(name string) string {
	e := path.Ext(name)
	if len(e) < 2 || len(e) > 16 {
		return ""
	}
	return normalize(e[1:])
}

// typeByName is the MIME type a name's extension says ("" if unknown).
func typeByName(name string) string {
	e := extOf(name)
	if e == "" {
		return ""
	}
	if t, ok := extraTypes[e]; ok {
		return t
	}
	t := mime.TypeByExtension("." + e)
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = t[:i]
	}
	return t
}

// typeOf decides a file's MIME type from its name and first bytes:
// a specific sniffed type wins, then the extension, then the sniff.
func typeOf(name string, head []byte) string {
	byName := typeByName(name)
	if len(head) == 0 {
		return byName
	}
	sniffed := http.DetectContentType(head)
	if i := strings.IndexByte(sniffed, ';'); i >= 0 {
		sniffed = sniffed[:i]
	}
	switch {
	case sniffed == "application/octet-stream", sniffed == "text/plain" && byName != "",
		sniffed == "text/xml" && byName != "", sniffed == "application/zip" && byName != "":
		if byName != "" {
			return byName
		}
	}
	return sniffed
}

func kindOfType(t string) extractKind {
	switch {
	case t == "text/html":
		return kindHTML
	case strings.HasPrefix(t, "text/"), t == "application/json", t == "application/xml", t == "application/javascript":
		return kindText
	case t == "application/pdf":
		return kindPDF
	case t == "image/jpeg", t == "image/heic", t == "image/heif", t == "image/tiff", t == "image/png",
		t == "image/x-adobe-dng", t == "image/x-canon-cr2", t == "image/x-canon-cr3", t == "image/x-nikon-nef":
		return kindImage
	case strings.HasPrefix(t, "audio/"), strings.HasPrefix(t, "video/"):
		return kindAudio
	}
	return kindNone
}

// wantsContent reports whether a file of this name is worth reading (the
// type by name is all we know before the bytes).
func wantsContent(name string, size int64, l Limits) bool {
	if size <= 0 || size > l.MaxFile {
		return false
	}
	t := typeByName(name)
	return t == "" || kindOfType(t) != kindNone
}

// extract parses a file's content. Parser failures (and panics of the
// parsers on hostile input) are recorded in Failed, never returned: the
// file is still indexed by what else is known.
func extract(name string, r io.ReaderAt, size int64, l Limits) (x Extracted) {
	head := make([]byte, min(size, 512))
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF && n < len(head) {
		x.Failed = "read: " + err.Error()
		x.Mime = typeByName(name)
		return x
	}
	x.Mime = typeOf(name, head[:n])
	k := kindOfType(x.Mime)
	if k == kindNone || size > l.MaxFile {
		return x
	}
	defer func() {
		if p := recover(); p != nil {
			x.Failed = fmt.Sprintf("%s parser panicked: %v", x.Mime, p)
		}
	}()
	sr := io.NewSectionReader(r, 0, size)
	var perr error
	switch k {
	case kindText:
		if l.MaxText > 0 {
			x.Text, perr = readText(sr, l.MaxText)
		}
	case kindHTML:
		if l.MaxText > 0 {
			x.Text, perr = htmlText(sr, l.MaxText)
		}
	case kindPDF:
		if l.MaxText > 0 {
			x.Text, perr = pdfText(r, size, l.MaxText)
		}
	case kindImage:
		perr = exifOf(sr, &x)
	case kindAudio:
		perr = tagsOf(sr, size, &x)
	}
	if perr != nil {
		x.Failed = x.Mime + ": " + perr.Error()
	}
	return x
}

// cleanText makes extracted text valid, NFC and bounded.
func cleanText(b []byte, max int64) string {
	if int64(len(b)) > max {
		b = b[:max]
		for len(b) > 0 && !utf8.Valid(b[len(b)-min(len(b), 3):]) { // do not cut a rune
			b = b[:len(b)-1]
		}
	}
	s := strings.ToValidUTF8(string(b), " ")
	s = strings.ReplaceAll(s, "\x00", " ")
	return norm.NFC.String(s)
}

func readText(r io.Reader, max int64) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, max))
	if err != nil {
		return "", err
	}
	if bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 && !utf8.Valid(b[:min(len(b), 8000)]) {
		return "", nil // binary after all
	}
	return cleanText(b, max), nil
}

// htmlText is the text of an HTML document (script and style dropped).
func htmlText(r io.Reader, max int64) (string, error) {
	z := xhtml.NewTokenizer(io.LimitReader(r, 4*max))
	var sb strings.Builder
	skip := 0
	for int64(sb.Len()) < max {
		switch z.Next() {
		case xhtml.ErrorToken:
			if z.Err() == io.EOF {
				return cleanText([]byte(sb.String()), max), nil
			}
			return cleanText([]byte(sb.String()), max), z.Err()
		case xhtml.StartTagToken:
			if t, _ := z.TagName(); string(t) == "script" || string(t) == "style" {
				skip++
			}
		case xhtml.EndTagToken:
			if t, _ := z.TagName(); (string(t) == "script" || string(t) == "style") && skip > 0 {
				skip--
			}
		case xhtml.TextToken:
			if skip == 0 {
				sb.Write(z.Text())
				sb.WriteByte(' ')
			}
		}
	}
	return cleanText([]byte(sb.String()), max), nil
}

func pdfText(r io.ReaderAt, size, max int64) (string, error) {
	pr, err := pdf.NewReader(r, size)
	if err != nil {
		return "", err
	}
	tr, err := pr.GetPlainText()
	if err != nil {
		return "", err
	}
	return readText(tr, max)
}

func exifOf(r io.ReadSeeker, x *Extracted) error {
	e, err := imagemeta.Decode(r)
	if err != nil {
		return err
	}
	x.Camera = strings.TrimSpace(strings.Join(dedupWords(strings.TrimSpace(e.Make), strings.TrimSpace(e.Model)), " "))
	x.Lens = strings.TrimSpace(e.LensModel)
	if t := e.DateTimeOriginal(); !t.IsZero() && t.Year() > 1800 {
		x.Taken = t.UnixNano()
	} else if t := e.CreateDate(); !t.IsZero() && t.Year() > 1800 {
		x.Taken = t.UnixNano()
	}
	x.GPS = e.GPS.Latitude() != 0 || e.GPS.Longitude() != 0
	return nil
}

// dedupWords joins make and model without repeating the make ("Canon",
// "Canon EOS R5" → "Canon EOS R5").
func dedupWords(mk, model string) []string {
	if mk != "" && strings.HasPrefix(strings.ToLower(model), strings.ToLower(mk)) {
		return []string{model}
	}
	return []string{mk, model}
}

func tagsOf(r io.ReadSeeker, size int64, x *Extracted) error {
	var errs []string
	if m, err := tag.ReadFrom(r); err == nil {
		x.Artist = strings.TrimSpace(m.Artist())
		if x.Artist == "" {
			x.Artist = strings.TrimSpace(m.AlbumArtist())
		}
		x.Album, x.Title, x.Genre = strings.TrimSpace(m.Album()), strings.TrimSpace(m.Title()), strings.TrimSpace(m.Genre())
	} else if err != tag.ErrNoTagsFound {
		errs = append(errs, "tags: "+err.Error())
	}
	if d, err := duration(r, size); err == nil {
		x.Duration = d.Seconds()
	} else if err != errNoDuration {
		errs = append(errs, "duration: "+err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// sinceEpoch converts a stored unix-ns time (0: none).
func sinceEpoch(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
