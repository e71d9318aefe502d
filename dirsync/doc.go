// Package dirsync makes a directory's entries durable: after a file is
// created, renamed or removed in a directory, the change survives a power
// loss only once the directory itself is fsynced (a file's own fsync
// covers its data and inode, not the name that leads to it). Every store
// in clusterf (rawfile, extent, the metadata journal and bolt file, the
// encryption header) calls Dir after such a change.
package dirsync
