// Package seqlog is a bounded log of numbered entries that readers follow
// by sequence number: a reader remembers the number of the last entry it
// handled and asks for what came after. The log keeps the latest entries
// up to its size; a reader that fell further behind, or that holds a
// number from another log, is told it missed some and resynchronises from
// the state it follows.
//
// The core's change feed (replica.Feed) and the dashboard's event log
// (node) are both such logs.
package seqlog
