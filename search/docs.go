package search

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// entryDoc is one name of the namespace as the index sees it, read from
// the metadata (no file bytes).
type entryDoc struct {
	id      string // document id: the dentry, "~version" for a conflict copy
	dentry  crdt.InodeID
	inode   crdt.InodeID
	version crdt.OpID // content version (zero: none)
	content crdt.Content
	name    string
	path    string
	kind    crdt.Kind
	size    int64
	mtime   int64
	ctime   int64
	anc     []string
	xattrs  []string // "name value" for printable values, "name" otherwise
	tags    []string
}

func versionString(v crdt.OpID) string {
	if v.IsZero() {
		return ""
	}
	return string(v.Node) + ":" + strconv.FormatUint(v.Seq, 10)
}

func docID(dentry crdt.InodeID, sibling crdt.OpID) string {
	if sibling.IsZero() {
		return dentry.String()
	}
	return dentry.String() + "~" + versionString(sibling)
}

// dentryOfID is the dentry of a document id.
func dentryOfID(id string) (crdt.InodeID, bool) {
	var d crdt.InodeID
	if len(id) < 32 {
		return d, false
	}
	if _, err := fmt.Sscanf(id[:32], "%x", &d); err != nil {
		return d, false
	}
	return d, true
}

// hidden names are never indexed (in-flight uploads).
func hidden(name string) bool { return strings.HasPrefix(name, replica.UploadPrefix) }

// fingerprint summarises what a document was built from; an unchanged
// fingerprint means nothing to re-index.
func (e *entryDoc) fingerprint() string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00%d\x00%s\x00%q\x00%q", FormatVersion, e.path, e.kind, e.size,
		e.mtime, e.ctime, versionString(e.version), e.xattrs, e.anc)
	return strconv.FormatUint(h.Sum64(), 36)
}

// maxXattrValue is the longest xattr value indexed as text.
const maxXattrValue = 1024

// fromEntry builds the document of a directory entry; dirPath and anc
// describe its directory.
func fromEntry(v *crdt.View, dirPath string, anc []string, e crdt.Entry) (entryDoc, bool) {
	if hidden(e.Name) {
		return entryDoc{}, false
	}
	ino, err := v.Inode(e.Ref.Inode)
	if err != nil {
		return entryDoc{}, false
	}
	d := entryDoc{
		id: docID(e.Dentry, e.Ref.Version), dentry: e.Dentry, inode: e.Ref.Inode, name: e.Name,
		path: path.Join(dirPath, e.Name), kind: e.Kind, mtime: ino.Mtime, ctime: ino.Ctime, anc: anc,
		version: ino.Version, content: ino.Content,
	}
	if !e.Ref.Version.IsZero() {
		c, err := v.Version(e.Ref)
		if err != nil {
			return entryDoc{}, false
		}
		d.version, d.content = e.Ref.Version, c
	}
	if d.kind == crdt.KindFile {
		d.size = d.content.Size
	} else if d.kind == crdt.KindSymlink {
		d.size = int64(len(ino.Symlink))
	}
	names, _ := v.ListXattr(e.Ref.Inode)
	for _, n := range names {
		val, err := v.Xattr(e.Ref.Inode, n)
		if err != nil {
			continue
		}
		text := n
		if len(val) <= maxXattrValue && utf8.Valid(val) {
			text += " " + strings.TrimRight(string(val), "\x00")
			if n == "user.xdg.tags" || n == "user.tags" {
				for _, t := range strings.Split(strings.TrimRight(string(val), "\x00"), ",") {
					if t = strings.TrimSpace(t); t != "" {
						d.tags = append(d.tags, t)
					}
				}
			}
		}
		d.xattrs = append(d.xattrs, text)
	}
	return d, true
}

// ancestors lists the directories above dir, dir first, the root left out.
func ancestors(v *crdt.View, dir crdt.InodeID) []string {
	var out []string
	for x, steps := dir, 0; x != crdt.RootID && steps < 4096; steps++ {
		out = append(out, x.String())
		p, err := v.Parent(x)
		if err != nil {
			return out
		}
		x = p
	}
	return out
}

// docsOfDentry builds the documents of a live dentry: its name and its
// content conflict copies. None when it is not live (or hidden).
func docsOfDentry(v *crdt.View, dentry crdt.InodeID) []entryDoc {
	if dentry == crdt.RootID || dentry.IsZero() {
		return nil
	}
	p, ok := v.Place(dentry)
	if !ok || !p.Live {
		return nil
	}
	full, ok := v.Path(dentry)
	if !ok {
		return nil
	}
	dirPath, name := path.Split(full)
	dirPath = path.Clean(dirPath)
	parent := p.Parent
	e, err := v.Lookup(parent, name)
	if err != nil || e.Dentry != dentry {
		return nil // shown elsewhere (a resurrected name): the next resync finds it
	}
	anc := ancestors(v, parent)
	var out []entryDoc
	if d, ok := fromEntry(v, dirPath, anc, e); ok {
		out = append(out, d)
	}
	if len(v.Versions(p.Inode)) > 1 {
		ents, _ := v.ReadDir(parent)
		for _, s := range ents {
			if s.Dentry == dentry && !s.Ref.Version.IsZero() {
				if d, ok := fromEntry(v, dirPath, anc, s); ok {
					out = append(out, d)
				}
			}
		}
	}
	return out
}

// stored is what an indexed document carries over to its next version.
type stored struct {
	fp   string
	ver  string // content version its extraction is of ("": none)
	x    Extracted
	text string
}

// fields builds the index document of e with extraction x (nil: none
// yet). fp is the fingerprint to record ("" while extraction is pending).
func (e *entryDoc) fields(x *Extracted, fp string) map[string]any {
	mimeType := typeByName(e.name)
	switch e.kind {
	case crdt.KindDir:
		mimeType = "inode/directory"
	case crdt.KindFile:
		if x != nil && x.Mime != "" {
			mimeType = x.Mime
		}
		if mimeType == "" {
			mimeType = "application/octet-stream"
		}
	default:
		mimeType = "inode/" + e.kind.String()
	}
	major, _, _ := strings.Cut(mimeType, "/")
	types := []string{mimeType, major}
	switch e.kind {
	case crdt.KindDir:
		types = append(types, "directory", "dir", "folder")
	case crdt.KindFile:
		types = append(types, "file")
		if mimeType == "application/pdf" {
			types = append(types, "pdf", "document")
		} else if strings.HasPrefix(mimeType, "text/") {
			types = append(types, "document")
		}
	default:
		types = append(types, e.kind.String())
	}
	doc := map[string]any{
		fName: e.name, fSuffix: e.name, fPrefix: e.name, fPath: e.path, fInode: e.inode.String(),
		fKind: e.kind.String(), fType: types, fMime: mimeType, fSize: float64(e.size),
		fMtime: sinceEpoch(e.mtime), fNameSort: normalize(e.name), fFP: fp,
	}
	if len(e.anc) > 0 {
		doc[fAnc] = e.anc
	}
	if ext := extOf(e.name); ext != "" && e.kind != crdt.KindDir {
		doc[fExt] = ext
	}
	if len(e.xattrs) > 0 {
		doc[fXattr] = strings.Join(e.xattrs, "\n")
	}
	if len(e.tags) > 0 {
		doc[fTag] = e.tags
	}
	if x == nil {
		return doc
	}
	doc[fVer] = versionString(e.version)
	meta := *x
	meta.Text = ""
	if b, err := json.Marshal(meta); err == nil {
		doc[fExtract] = string(b)
	}
	set := func(f, s string) {
		if s != "" {
			doc[f] = s
		}
	}
	set(fCamera, x.Camera)
	set(fLens, x.Lens)
	set(fArtist, x.Artist)
	set(fAlbum, x.Album)
	set(fTitle, x.Title)
	set(fGenre, x.Genre)
	set(fText, x.Text)
	if x.Taken != 0 {
		doc[fTaken] = sinceEpoch(x.Taken)
	}
	if x.GPS {
		doc[fGPS] = true
	}
	if x.Duration > 0 {
		doc[fDuration] = x.Duration
	}
	return doc
}
