// Package sim runs many full clusterf nodes in one process (simulation
// mode, `clusterf sim --sim-nodes N --base-port P`).
//
// Every node is built by node.New exactly as a real one, with its own data
// dir (<data-dir>/sim-<i>), HTTP port P+i, discovery port P+N+i and QUIC
// port P+2N+i, all on 127.0.0.1 (fixed ports: random ones could take
// another node's port). Announcements go to the other
// nodes' loopback discovery ports instead of the broadcast address, so no
// packet leaves the machine. Nodes have no FUSE mount.
package sim
