//go:build unix

package discovery

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// control sets SO_REUSEADDR, SO_REUSEPORT and SO_BROADCAST so several
// nodes in one network namespace can share the discovery port and send to
// broadcast addresses.
func control(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT, unix.SO_BROADCAST} {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, 1); serr != nil {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}
