package webdav

import (
	"errors"
	"path"
	"strings"

	"github.com/clusterf/clusterf/replica"
)

// errBadName is returned for request names that are refused before they
// reach the core: NUL bytes, backslashes and ".." components. The HTTP
// layer answers 400 Bad Request for them.
var errBadName = errors.New("invalid name: NUL, backslash or \"..\"")

// uploadPrefix starts the names of the hidden temporary files uploads are
// written to (the same prefix as replica.PutFile's). WebDAV never lists them.
const uploadPrefix = replica.UploadPrefix

// cleanRoot normalises the served cluster path: "photos", "/photos/" and
// "/photos" all become "/photos"; "" and "/" are the cluster root.
func cleanRoot(root string) (string, error) {
	return mapPath("/", root)
}

// mapPath maps name, a slash-separated path of x/net/webdav relative to the
// served tree, to the cluster path it names under root (a cleaned absolute
// cluster path, "/" for the cluster root). It refuses NUL bytes, backslashes
// and ".." components instead of cleaning them away, so a name can never
// reach above root, and never lets "a\..\b" mean something different on a
// client that treats backslash as a separator. "." components and repeated
// slashes are cleaned. The result is always root or below it.
func mapPath(root, name string) (string, error) {
	if strings.ContainsAny(name, "\x00\\") {
		return "", errBadName
	}
	for c := range strings.SplitSeq(name, "/") {
		if c == ".." {
			return "", errBadName
		}
	}
	rel := path.Clean("/" + name)
	switch {
	case rel == "/":
		return root, nil
	case root == "/":
		return rel, nil
	default:
		return root + rel, nil
	}
}
