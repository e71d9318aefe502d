package filesync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/clusterf/clusterf/crdt"
)

// The sync state of one pair: the base of every path, in memory as a tree
// and in a bbolt file. This file is the only place that reads or writes
// that file, so that at-rest encryption seals every record here (Sealer:
// the same shape as crdt's; keys are numbers, names are inside the sealed
// values).

// Sealer seals state records (at-rest encryption); nil stores them plain.
type Sealer interface {
	Seal(dst, plain, ad []byte) []byte
	Open(dst, sealed, ad []byte) ([]byte, error)
}

// kind of an entry.
type kind uint8

const (
	kindNone kind = iota
	kindFile
	kindDir
	kindSymlink
	kindSpecial // FIFO, socket, device: never copied
)

func (k kind) String() string {
	return [...]string{"none", "file", "directory", "symlink", "special file"}[k]
}

// localStamp is what the local side looked like.
type localStamp struct {
	Size  int64  `cbor:"1,keyasint,omitempty"`
	Mtime int64  `cbor:"2,keyasint,omitempty"` // unix ns
	Mode  uint32 `cbor:"3,keyasint,omitempty"`
	Dev   uint64 `cbor:"4,keyasint,omitempty"`
	Ino   uint64 `cbor:"5,keyasint,omitempty"`
}

// clusterStamp is what the cluster side looked like.
type clusterStamp struct {
	Inode crdt.InodeID `cbor:"1,keyasint"`
	Size  int64        `cbor:"2,keyasint,omitempty"`
	Mtime int64        `cbor:"3,keyasint,omitempty"`
	Ctime int64        `cbor:"4,keyasint,omitempty"`
	Mode  uint32       `cbor:"5,keyasint,omitempty"`
	// Version is set for a read-only conflict copy (one content version).
	Version crdt.OpID `cbor:"6,keyasint,omitempty"`
}

// record is the base of one path: both sides were in step like this.
type record struct {
	Kind   kind         `cbor:"1,keyasint"`
	Hash   [32]byte     `cbor:"2,keyasint,omitempty"` // BLAKE3 of the content (files)
	Target string       `cbor:"3,keyasint,omitempty"` // symlinks
	L      localStamp   `cbor:"4,keyasint"`
	C      clusterStamp `cbor:"5,keyasint"`
}

// bnode is one path of the base tree.
type bnode struct {
	id     uint64
	parent *bnode
	name   string
	kids   map[string]*bnode
	rec    record
}

// rel is the node's path relative to the pair's root ("" for the root).
func (n *bnode) rel() string {
	var names []string
	for x := n; x.parent != nil; x = x.parent {
		names = append(names, x.name)
	}
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	return strings.Join(names, "/")
}

// stored is the encoded value of a node.
type stored struct {
	Parent uint64 `cbor:"1,keyasint"`
	Name   string `cbor:"2,keyasint"`
	Rec    record `cbor:"3,keyasint"`
}

var (
	bucketNodes = []byte("nodes")
	bucketMeta  = []byte("meta")
	keyNextID   = []byte("next-id")
	rootID      = uint64(1)
)

type devIno struct{ dev, ino uint64 }

// state is the base of one pair. Not safe for concurrent use: the pair's
// engine goroutine owns it.
type state struct {
	db      *bolt.DB
	seal    Sealer
	root    *bnode
	nextID  uint64
	byIno   map[devIno]*bnode
	byInode map[crdt.InodeID]*bnode
	files   int // file and symlink records

	dirty   map[*bnode]bool
	gone    map[uint64]bool
	meta    map[string][]byte
	pending int
}

// openState opens (or creates) the state file and loads it.
func openState(path string, seal Sealer) (*state, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sync state dir: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("sync state %s is in use by another process (a node or a one-shot import/export of the same pair)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open sync state %s: %w", path, err)
	}
	s := &state{db: db, seal: seal, nextID: rootID + 1,
		byIno: map[devIno]*bnode{}, byInode: map[crdt.InodeID]*bnode{},
		dirty: map[*bnode]bool{}, gone: map[uint64]bool{}, meta: map[string][]byte{}}
	s.root = &bnode{id: rootID, kids: map[string]*bnode{}, rec: record{Kind: kindDir}}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("load sync state %s: %w", path, err)
	}
	return s, nil
}

func recordAD(bucket, key []byte) []byte {
	return append(append(append([]byte{}, bucket...), 0), key...)
}

func (s *state) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		nb, err := tx.CreateBucketIfNotExists(bucketNodes)
		if err != nil {
			return err
		}
		mb, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := mb.Get(keyNextID); len(v) == 8 {
			s.nextID = binary.BigEndian.Uint64(v)
		}
		recs := map[uint64]stored{}
		err = nb.ForEach(func(k, v []byte) error {
			var st stored
			if err := s.decode(bucketNodes, k, v, &st); err != nil {
				return err
			}
			if len(k) != 8 {
				return fmt.Errorf("sync state: bad key %x", k)
			}
			recs[binary.BigEndian.Uint64(k)] = st
			return nil
		})
		if err != nil {
			return err
		}
		s.build(recs)
		return nil
	})
}

// build makes the tree of the loaded records; records not reachable from
// the root (left by an interrupted subtree delete, or damaged) are dropped.
func (s *state) build(recs map[uint64]stored) {
	all := map[uint64]*bnode{rootID: s.root}
	for id, st := range recs {
		s.nextID = max(s.nextID, id+1)
		if id == rootID {
			s.root.rec = st.Rec
			continue
		}
		all[id] = &bnode{id: id, name: st.Name, rec: st.Rec}
	}
	for id, n := range all {
		if id == rootID {
			continue
		}
		p := all[recs[id].Parent]
		if p == nil || p == n || n.name == "" {
			s.gone[id] = true
			continue
		}
		n.parent = p
		if p.kids == nil {
			p.kids = map[string]*bnode{}
		}
		if old := p.kids[n.name]; old != nil { // two records for one name: keep one
			s.gone[old.id] = true
		}
		p.kids[n.name] = n
	}
	reach := map[*bnode]bool{}
	s.walkOnce(s.root, reach, func(n *bnode) { s.index(n, true) })
	for id, n := range all {
		if !reach[n] && id != rootID {
			s.gone[id] = true
			if n.parent != nil && n.parent.kids[n.name] == n {
				delete(n.parent.kids, n.name)
			}
		}
	}
	if len(s.gone) > 0 {
		s.pending++
	}
}

// walkOnce is walk that stops at nodes seen before (a damaged file may
// hold cycles).
func (s *state) walkOnce(n *bnode, seen map[*bnode]bool, fn func(*bnode)) {
	if seen[n] {
		return
	}
	seen[n] = true
	fn(n)
	for _, k := range n.kids {
		s.walkOnce(k, seen, fn)
	}
}

func (s *state) decode(bucket, key, v []byte, out any) error {
	if s.seal != nil {
		plain, err := s.seal.Open(nil, v, recordAD(bucket, key))
		if err != nil {
			return fmt.Errorf("sync state record: %w", err)
		}
		v = plain
	}
	return cbor.Unmarshal(v, out)
}

func (s *state) encode(bucket, key []byte, in any) ([]byte, error) {
	b, err := cbor.Marshal(in)
	if err != nil {
		return nil, err
	}
	if s.seal != nil {
		b = s.seal.Seal(nil, b, recordAD(bucket, key))
	}
	return b, nil
}

// walk calls fn for n and every node under it, parents first.
func (s *state) walk(n *bnode, fn func(*bnode)) {
	fn(n)
	for _, k := range n.kids {
		s.walk(k, fn)
	}
}

// index adds (or removes) n from the inode indexes and the file count.
func (s *state) index(n *bnode, add bool) {
	r := &n.rec
	if n != s.root && (r.Kind == kindFile || r.Kind == kindSymlink) {
		if add {
			s.files++
		} else {
			s.files--
		}
	}
	if r.L.Ino != 0 {
		k := devIno{r.L.Dev, r.L.Ino}
		if add {
			s.byIno[k] = n
		} else if s.byIno[k] == n {
			delete(s.byIno, k)
		}
	}
	if r.C.Inode != (crdt.InodeID{}) && r.C.Version.IsZero() {
		if add {
			s.byInode[r.C.Inode] = n
		} else if s.byInode[r.C.Inode] == n {
			delete(s.byInode, r.C.Inode)
		}
	}
}

// get returns the node of rel (nil if none).
func (s *state) get(rel string) *bnode {
	n := s.root
	if rel == "" {
		return n
	}
	for _, name := range strings.Split(rel, "/") {
		if n = n.kids[name]; n == nil {
			return nil
		}
	}
	return n
}

// ensure returns the node of rel, creating missing nodes (directories with
// empty stamps, which compare as changed and are settled when reconciled).
func (s *state) ensure(rel string) *bnode {
	n := s.root
	if rel == "" {
		return n
	}
	for _, name := range strings.Split(rel, "/") {
		k := n.kids[name]
		if k == nil {
			k = &bnode{id: s.nextID, parent: n, name: name, rec: record{Kind: kindDir}}
			s.nextID++
			if n.kids == nil {
				n.kids = map[string]*bnode{}
			}
			n.kids[name] = k
			s.markDirty(k)
		}
		n = k
	}
	return n
}

func (s *state) markDirty(n *bnode) {
	s.dirty[n] = true
	s.pending++
}

// set records rel's base.
func (s *state) set(rel string, r record) *bnode {
	n := s.ensure(rel)
	s.index(n, false)
	n.rec = r
	s.index(n, true)
	s.markDirty(n)
	return n
}

// remove drops n and everything under it (not the root's record itself:
// the root is reset to an empty directory).
func (s *state) remove(n *bnode) {
	s.walk(n, func(x *bnode) {
		s.index(x, false)
		delete(s.dirty, x)
		if x != s.root {
			s.gone[x.id] = true
			s.pending++
		}
	})
	if n == s.root {
		n.kids = nil
		n.rec = record{Kind: kindDir}
		s.markDirty(n)
		return
	}
	delete(n.parent.kids, n.name)
	n.parent = nil
}

// move puts n at rel (replacing whatever base was there).
func (s *state) move(n *bnode, rel string) {
	if old := s.get(rel); old != nil && old != n {
		s.remove(old)
	}
	dir, name := splitRel(rel)
	p := s.ensure(dir)
	delete(n.parent.kids, n.name)
	n.parent, n.name = p, name
	if p.kids == nil {
		p.kids = map[string]*bnode{}
	}
	p.kids[name] = n
	s.markDirty(n)
}

// countFiles counts the file and symlink records at and under n.
func (s *state) countFiles(n *bnode) int {
	c := 0
	s.walk(n, func(x *bnode) {
		if x != s.root && (x.rec.Kind == kindFile || x.rec.Kind == kindSymlink) {
			c++
		}
	})
	return c
}

// setMeta records a small value to be written with the next flush.
func (s *state) setMeta(key string, v []byte) {
	s.meta[key] = v
	s.pending++
}

// getMeta reads a meta value (pending ones included).
func (s *state) getMeta(key string) []byte {
	if v, ok := s.meta[key]; ok {
		return v
	}
	var out []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get([]byte(key))
		if v == nil {
			return nil
		}
		return s.decode(bucketMeta, []byte(key), v, &out)
	})
	return out
}

// flush writes every pending change in one durable transaction.
func (s *state) flush() error {
	if s.pending == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		nb, mb := tx.Bucket(bucketNodes), tx.Bucket(bucketMeta)
		var key [8]byte
		for id := range s.gone {
			binary.BigEndian.PutUint64(key[:], id)
			if err := nb.Delete(key[:]); err != nil {
				return err
			}
		}
		for n := range s.dirty {
			binary.BigEndian.PutUint64(key[:], n.id)
			st := stored{Name: n.name, Rec: n.rec}
			if n.parent != nil {
				st.Parent = n.parent.id
			}
			v, err := s.encode(bucketNodes, key[:], st)
			if err != nil {
				return err
			}
			if err := nb.Put(append([]byte{}, key[:]...), v); err != nil {
				return err
			}
		}
		for k, val := range s.meta {
			v, err := s.encode(bucketMeta, []byte(k), val)
			if err != nil {
				return err
			}
			if err := mb.Put([]byte(k), v); err != nil {
				return err
			}
		}
		binary.BigEndian.PutUint64(key[:], s.nextID)
		return mb.Put(keyNextID, append([]byte{}, key[:]...))
	})
	if err != nil {
		return fmt.Errorf("write sync state: %w", err)
	}
	s.dirty, s.gone, s.meta, s.pending = map[*bnode]bool{}, map[uint64]bool{}, map[string][]byte{}, 0
	return nil
}

func (s *state) close() error {
	err := s.flush()
	return errors.Join(err, s.db.Close())
}

// splitRel splits a relative path into its directory and name.
func splitRel(rel string) (dir, name string) {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i], rel[i+1:]
	}
	return "", rel
}

// joinRel joins a relative directory and a name.
func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
