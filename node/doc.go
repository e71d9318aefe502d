// Package node is the composition root of clusterf: it builds one node from
// a Config (data dir, metadata replica, chunk store, filesystem core, mount)
// and owns the lifecycle of everything it starts.
//
// New opens what the node needs; Start starts its background work (the FUSE
// mount, and the servers as they are added); Close stops everything Start
// started, waits for it, and closes the stores. Nothing here is package-level
// state, so many nodes can live in one process (simulation mode, tests).
package node
