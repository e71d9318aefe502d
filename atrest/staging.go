package atrest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// stagingBlock is the unit a StagingFile encrypts: a partial write of a
// block re-encrypts the whole block.
const stagingBlock = 64 << 10

// StagingFile is a random-access temporary file whose bytes on disk are
// encrypted: replica's write-back staging (files being written, not yet
// committed). It is unlinked at creation and never read after a restart,
// so its key is random, kept in memory only, and replaced whenever the
// file is emptied.
//
// Bytes are AES-256-CTR encrypted in 64 KiB blocks; each block has a
// generation counter in memory that every rewrite increments, and the
// counter block is (block index, generation), so no keystream is ever used
// twice (a copy-on-write file system keeping old blocks shows two
// unrelated ciphertexts, not an XOR of plaintexts). Integrity is not
// sealed: the file lives only while the node runs, and a writer to the
// node's disk during its run could as well change what it is told to
// store. Blocks never written read as zeros, and Zero drops blocks back to
// that state (punching holes where the file system can).
//
// It implements replica.StagingFile. Safe for concurrent use.
type StagingFile struct {
	mu  sync.Mutex
	f   *os.File
	aes cipher.Block
	// gens holds each block's generation; 0: reads as zeros. A block with
	// a generation is whole on disk (writes and truncates keep it so).
	gens []uint32
	buf  []byte // one block, for writes
}

// NewStagingFile creates an unlinked staging file in dir (pattern as in
// os.CreateTemp).
func NewStagingFile(dir, pattern string) (*StagingFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	s := &StagingFile{f: f}
	s.rekey()
	return s, nil
}

func (s *StagingFile) rekey() {
	var k [KeySize]byte
	if _, err := rand.Read(k[:]); err != nil {
		panic(fmt.Sprintf("atrest: random key: %v", err))
	}
	b, err := aes.NewCipher(k[:])
	if err != nil {
		panic(fmt.Sprintf("atrest: aes: %v", err))
	}
	s.aes, s.gens = b, nil
}

// xorTo encrypts the whole block b's src into dst under generation gen.
func (s *StagingFile) xorTo(dst, src []byte, b int64, gen uint32) {
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[0:8], uint64(b))
	binary.BigEndian.PutUint32(iv[8:12], gen)
	cipher.NewCTR(s.aes, iv[:]).XORKeyStream(dst, src)
}

// xor en- or decrypts p, the bytes at offset within of block b under
// generation gen, in place.
func (s *StagingFile) xor(p []byte, b int64, gen uint32, within int) {
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[0:8], uint64(b))
	binary.BigEndian.PutUint32(iv[8:12], gen)
	binary.BigEndian.PutUint32(iv[12:16], uint32(within/aes.BlockSize))
	ctr := cipher.NewCTR(s.aes, iv[:])
	if skip := within % aes.BlockSize; skip > 0 {
		var junk [aes.BlockSize]byte
		ctr.XORKeyStream(junk[:skip], junk[:skip])
	}
	ctr.XORKeyStream(p, p)
}

func (s *StagingFile) gen(b int64) uint32 {
	if b < int64(len(s.gens)) {
		return s.gens[b]
	}
	return 0
}

func (s *StagingFile) setGen(b int64, g uint32) {
	for int64(len(s.gens)) <= b {
		s.gens = append(s.gens, 0)
	}
	s.gens[b] = g
}

// readBlockPart decrypts block b's bytes [within, within+len(p)) into p.
func (s *StagingFile) readBlockPart(p []byte, b int64, within int) error {
	g := s.gen(b)
	if g == 0 {
		clear(p)
		return nil
	}
	n, err := s.f.ReadAt(p, b*stagingBlock+int64(within))
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	s.xor(p[:n], b, g, within)
	clear(p[n:]) // cut by a truncate: zeros
	return nil
}

// ReadAt implements io.ReaderAt; bytes never written read as zeros (it
// always fills p). One pread for the whole range, then each block is
// decrypted (or zeroed) in place.
func (s *StagingFile) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	got, err := s.f.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	clear(p[got:]) // past the end on disk (cut by a truncate): zeros
	for done := 0; done < len(p); {
		o := off + int64(done)
		b, within := o/stagingBlock, int(o%stagingBlock)
		n := min(len(p)-done, stagingBlock-within)
		part := p[done : done+n]
		if g := s.gen(b); g == 0 {
			clear(part)
		} else {
			s.xor(part[:max(0, min(n, got-done))], b, g, within)
		}
		done += n
	}
	return len(p), nil
}

// WriteAt implements io.WriterAt.
func (s *StagingFile) WriteAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeAt(p, off)
}

// stagingBatch is the most whole blocks writeAt encrypts into one pwrite.
const stagingBatch = 16

// writeAt writes p at off (mu held): runs of whole blocks are encrypted
// into one buffer and written with one pwrite, as a plain staging file
// would be; a partial block is read, changed, re-encrypted and written.
func (s *StagingFile) writeAt(p []byte, off int64) (int, error) {
	if s.buf == nil {
		s.buf = make([]byte, stagingBatch*stagingBlock)
	}
	done, batched := 0, 0 // batched: bytes of p encrypted into s.buf, not yet written
	var first int64       // the batch's first block
	var gens [stagingBatch]uint32
	flush := func() error {
		if batched == 0 {
			return nil
		}
		k := batched / stagingBlock
		if _, err := s.f.WriteAt(s.buf[:batched], first*stagingBlock); err != nil {
			return err
		}
		for i := range k {
			s.setGen(first+int64(i), gens[i])
		}
		done, batched = done+batched, 0
		return nil
	}
	for done+batched < len(p) {
		o := off + int64(done+batched)
		b, within := o/stagingBlock, int(o%stagingBlock)
		n := min(len(p)-done-batched, stagingBlock-within)
		g := s.gen(b) + 1
		if g == 0 {
			return done, errors.New("atrest: staging block rewritten 2^32 times")
		}
		if within == 0 && n == stagingBlock {
			k := batched / stagingBlock
			if k == 0 {
				first = b
			}
			s.xorTo(s.buf[batched:batched+n], p[done+batched:done+batched+n], b, g)
			gens[k], batched = g, batched+n
			if k+1 == stagingBatch {
				if err := flush(); err != nil {
					return done, err
				}
			}
			continue
		}
		if err := flush(); err != nil {
			return done, err
		}
		// A partial block: the rest keeps its bytes.
		blk := s.buf[:stagingBlock]
		if err := s.readBlockPart(blk, b, 0); err != nil {
			return done, err
		}
		copy(blk[within:], p[done:done+n])
		s.xorTo(blk, blk, b, g)
		if _, err := s.f.WriteAt(blk, b*stagingBlock); err != nil {
			return done, err
		}
		s.setGen(b, g)
		done += n
	}
	return done, flush()
}

// Truncate changes the size like os.File.Truncate (bytes past size read
// as zeros from then on). Truncate(0) also draws a new key.
func (s *StagingFile) Truncate(size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if size == 0 {
		if err := s.f.Truncate(0); err != nil {
			return err
		}
		s.rekey()
		return nil
	}
	// Every written block is whole on disk: re-encrypt a block cut in the
	// middle with zeros after the cut, so it stays whole.
	b, within := size/stagingBlock, size%stagingBlock
	if within != 0 && s.gen(b) != 0 {
		if _, err := s.writeAt(make([]byte, stagingBlock-within), size); err != nil {
			return err
		}
	}
	keep := (size + stagingBlock - 1) / stagingBlock
	if keep < int64(len(s.gens)) {
		clear(s.gens[keep:])
		s.gens = s.gens[:keep]
	}
	return s.f.Truncate(keep * stagingBlock)
}

// Zero makes [off, off+n) read as zeros.
func (s *StagingFile) Zero(off, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n > 0 {
		b, within := off/stagingBlock, off%stagingBlock
		m := min(n, stagingBlock-within)
		switch {
		case s.gen(b) == 0:
		case within == 0 && m == stagingBlock:
			s.setGen(b, 0) // reads as zeros from now on; give the space back if we can
			err := unix.Fallocate(int(s.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, m)
			if err != nil && !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.ENOSYS) {
				return err
			}
		default:
			if _, err := s.writeAt(make([]byte, m), off); err != nil {
				return err
			}
		}
		off, n = off+m, n-m
	}
	return nil
}

// Stat describes the file on disk.
func (s *StagingFile) Stat() (os.FileInfo, error) { return s.f.Stat() }

// Close closes (and so frees) the file.
func (s *StagingFile) Close() error { return s.f.Close() }
