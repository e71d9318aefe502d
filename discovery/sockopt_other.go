//go:build !unix

package discovery

import "syscall"

func control(network, address string, c syscall.RawConn) error { return nil }
