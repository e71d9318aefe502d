package webdav

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	xwebdav "golang.org/x/net/webdav"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Dead properties (PROPPATCH) are extended attributes of the inode, so they
// replicate with it, move with it and show through the FUSE mount
// (getfattr). The attribute name is propPrefix followed by the property
// name in Clark notation, "{namespace}local", or, when that is longer than
// an attribute name may be, by "#" and a hash of it. The value is the
// property encoded as XML (storedProp); the name inside the value is the
// one that counts.
const propPrefix = "user.webdav."

// maxXattrName is the longest extended attribute name the core accepts.
const maxXattrName = 255

// storedProp is the XML encoding of one dead property in its attribute.
type storedProp struct {
	XMLName  xml.Name `xml:"prop"`
	Space    string   `xml:"space,attr"`
	Local    string   `xml:"local,attr"`
	Lang     string   `xml:"lang,attr,omitempty"`
	InnerXML []byte   `xml:",innerxml"`
}

// propKey is the extended attribute name of property n.
func propKey(n xml.Name) string {
	k := propPrefix + "{" + n.Space + "}" + n.Local
	if len(k) <= maxXattrName {
		return k
	}
	sum := sha256.Sum256([]byte(n.Space + "\x00" + n.Local))
	return propPrefix + "#" + hex.EncodeToString(sum[:])
}

func encodeProp(p xwebdav.Property) ([]byte, error) {
	return xml.Marshal(storedProp{Space: p.XMLName.Space, Local: p.XMLName.Local, Lang: p.Lang, InnerXML: p.InnerXML})
}

func decodeProp(b []byte) (xwebdav.Property, error) {
	var sp storedProp
	if err := xml.Unmarshal(b, &sp); err != nil {
		return xwebdav.Property{}, err
	}
	return xwebdav.Property{XMLName: xml.Name{Space: sp.Space, Local: sp.Local}, Lang: sp.Lang, InnerXML: sp.InnerXML}, nil
}

// DeadProps returns the dead properties of the open file or directory.
func (f *file) DeadProps() (map[xml.Name]xwebdav.Property, error) {
	fs, id := f.s.fs, f.attr.Ref.Inode
	names, err := fs.ListXattr(f.ctx, id)
	if err != nil {
		return nil, f.s.toOSError(f.ctx, "deadprops", f.name, err)
	}
	m := make(map[xml.Name]xwebdav.Property)
	for _, n := range names {
		if !strings.HasPrefix(n, propPrefix) {
			continue
		}
		v, err := fs.GetXattr(f.ctx, id, n)
		if errors.Is(err, crdt.ErrNoAttr) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, f.s.toOSError(f.ctx, "deadprops", f.name, err)
		}
		p, err := decodeProp(v)
		if err != nil {
			// Set through the mount by hand, most likely: not ours to show.
			f.s.log.Debug("webdav: undecodable dead property", "path", f.path, "xattr", n, "err", err)
			continue
		}
		m[p.XMLName] = p
	}
	return m, nil
}

// propChange is one attribute change of a Patch.
type propChange struct {
	key    string
	val    []byte // nil: remove
	status int
}

// Patch applies PROPPATCH instructions in order, all or none: values too
// large for an attribute fail the whole patch before anything changes
// (507 for them, 424 for the rest), and a core error midway restores the
// attributes already changed.
func (f *file) Patch(patches []xwebdav.Proppatch) ([]xwebdav.Propstat, error) {
	var (
		changes []propChange
		props   []xwebdav.Property
		failed  bool
	)
	for _, pp := range patches {
		for _, p := range pp.Props {
			props = append(props, xwebdav.Property{XMLName: p.XMLName})
			c := propChange{key: propKey(p.XMLName), status: http.StatusOK}
			if !pp.Remove {
				v, err := encodeProp(p)
				if err != nil {
					return nil, fmt.Errorf("encode property %v: %w", p.XMLName, err)
				}
				c.val = v
				if len(v) > replica.MaxXattrSize {
					c.status, failed = http.StatusInsufficientStorage, true
				}
			}
			changes = append(changes, c)
		}
	}
	if !f.attr.Ref.Version.IsZero() {
		// A conflict copy is read-only (its attributes are the file's).
		return []xwebdav.Propstat{{Status: http.StatusForbidden, Props: props}}, nil
	}
	if failed {
		var bad, dep xwebdav.Propstat
		bad.Status, dep.Status = http.StatusInsufficientStorage, http.StatusFailedDependency
		for i, c := range changes {
			if c.status != http.StatusOK {
				bad.Props = append(bad.Props, props[i])
			} else {
				dep.Props = append(dep.Props, props[i])
			}
		}
		out := []xwebdav.Propstat{bad}
		if len(dep.Props) > 0 {
			out = append(out, dep)
		}
		return out, nil
	}
	if err := f.applyProps(changes); err != nil {
		return nil, f.s.toOSError(f.ctx, "proppatch", f.name, err)
	}
	return []xwebdav.Propstat{{Status: http.StatusOK, Props: props}}, nil
}

// applyProps makes the changes, restoring the previous values on error.
func (f *file) applyProps(changes []propChange) error {
	ctx, fs, id := context.WithoutCancel(f.ctx), f.s.fs, f.attr.Ref.Inode
	type saved struct {
		val    []byte
		exists bool
	}
	before := make(map[string]saved)
	var undo []string
	var err error
	for _, c := range changes {
		if _, ok := before[c.key]; !ok {
			v, gerr := fs.GetXattr(ctx, id, c.key)
			if gerr != nil && !errors.Is(gerr, crdt.ErrNoAttr) {
				err = gerr
				break
			}
			before[c.key] = saved{val: v, exists: gerr == nil}
			undo = append(undo, c.key)
		}
		if c.val == nil {
			if rerr := fs.RemoveXattr(ctx, id, c.key); rerr != nil && !errors.Is(rerr, crdt.ErrNoAttr) {
				err = rerr
				break
			}
		} else if err = fs.SetXattr(ctx, id, c.key, c.val, 0); err != nil {
			break
		}
	}
	if err == nil {
		return nil
	}
	for _, k := range undo {
		var uerr error
		if b := before[k]; b.exists {
			uerr = fs.SetXattr(ctx, id, k, b.val, 0)
		} else if uerr = fs.RemoveXattr(ctx, id, k); errors.Is(uerr, crdt.ErrNoAttr) {
			uerr = nil
		}
		if uerr != nil {
			f.s.log.Warn("webdav: restore dead property after failed PROPPATCH", "path", f.path, "xattr", k, "err", uerr)
		}
	}
	return err
}

// copyDeadProps copies the dead properties of inode from that inode to
// does not have yet.
func copyDeadProps(ctx context.Context, fs *replica.FS, from, to crdt.InodeID) error {
	names, err := fs.ListXattr(ctx, from)
	if err != nil {
		return err
	}
	have, err := fs.ListXattr(ctx, to)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !strings.HasPrefix(n, propPrefix) || slices.Contains(have, n) {
			continue
		}
		v, err := fs.GetXattr(ctx, from, n)
		if errors.Is(err, crdt.ErrNoAttr) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fs.SetXattr(ctx, to, n, v, 0); err != nil {
			return err
		}
	}
	return nil
}
