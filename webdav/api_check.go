package webdav

import (
	"net/http"
	"os"

	xwebdav "golang.org/x/net/webdav"
)

// The x/net/webdav interfaces implemented here, at a glance.
var (
	_ xwebdav.FileSystem      = (*FileSystem)(nil)
	_ xwebdav.File            = (*file)(nil)
	_ xwebdav.DeadPropsHolder = (*file)(nil)
	_ os.FileInfo             = (*fileInfo)(nil)
	_ xwebdav.ETager          = (*fileInfo)(nil)
	_ xwebdav.ContentTyper    = (*fileInfo)(nil)
	_ http.Handler            = (*handler)(nil)
)
