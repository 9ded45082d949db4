package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/internal/durable"
	"github.com/cairnml/cairn/internal/fileid"
	"github.com/cairnml/cairn/tasks"
)

// ErrCorrupt is wrapped by the error a reader from Dir.Open returns when the
// stored bytes do not match their digest or size. It is
// cairn.ErrCorruptArtifact, which the executor knows without linking this
// package: an attempt that fails with it is not retried.
var ErrCorrupt = cairn.ErrCorruptArtifact

// Dir is a content-addressed artifact store in a local folder. It is safe
// for concurrent use by many goroutines and by many processes sharing the
// folder: blobs are immutable and land by atomic rename.
type Dir struct {
	root string
	tmp  string
	// verified remembers the blobs VerifiedPath and TouchVerified hashed
	// and those Put stored,
	// by path, with the file's identity then: a blob is hashed once per
	// process unless its file changes. At most maxVerified are kept
	// (nverified): when full it is emptied, and blobs are hashed again.
	verified  sync.Map // path → fileID
	nverified atomic.Int64
	hashed    atomic.Int64 // blobs VerifiedPath and TouchVerified hashed (tests)
}

// maxVerified bounds what a long-lived process (a server) remembers of
// the blobs it hashed: about 100 bytes each.
const maxVerified = 1 << 16

// remember notes that the blob at p was hashed and matched while its
// file was id.
func (d *Dir) remember(p string, id fileID) {
	if _, loaded := d.verified.Swap(p, id); loaded {
		return
	}
	if d.nverified.Add(1) > maxVerified {
		d.verified.Clear()
		d.nverified.Store(0)
	}
}

// fileID is what tells a file changed without reading it.
type fileID = fileid.ID

// statID returns the identity of the file at path.
func statID(path string) (fileID, bool) { return fileid.Stat(path) }

var _ tasks.Artifacts = (*Dir)(nil)

// copyBufSize is the buffer for streaming blobs in; larger than io.Copy's
// default because artifacts are usually data sets and models, not snippets.
const copyBufSize = 256 << 10

// Open returns the store rooted at path for reading and writing. Its
// folders are made by the first Put that needs them (a run whose tasks
// store nothing makes none: folder creation is slow on some disks). The
// store is private to the user whatever the umask: folders are 0700 and
// blobs 0400 (artifacts are data sets and models, often not meant for
// every local user).
func Open(path string) (*Dir, error) {
	return OpenReadOnly(path)
}

// OpenReadOnly returns the store rooted at path for reading: it creates
// nothing, so it works in a folder the process cannot write to (Put then
// fails). A missing folder is an empty store.
func OpenReadOnly(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("open artifact dir: empty path")
	}
	root, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open artifact dir %s: %w", path, err)
	}
	return &Dir{root: root, tmp: filepath.Join(root, "tmp")}, nil
}

// Root returns the store's absolute root folder.
func (d *Dir) Root() string { return d.root }

func (d *Dir) blobPath(hexDigest string) string {
	return filepath.Join(d.root, "sha256", hexDigest[:2], hexDigest)
}

// Put stores the bytes read from r and returns their reference. Storing
// bytes that are already present returns the same reference.
// It fails with ctx's error if ctx ends first, and with r's error if r
// fails; nothing is stored then.
func (d *Dir) Put(ctx context.Context, mediaType string, r io.Reader) (cairn.ArtifactRef, error) {
	return d.put(ctx, mediaType, r, nil, nil)
}

// PutExpected stores the bytes read from r only if they are want's: its
// size and sha256 digest. Bytes that are not — more or fewer, or another
// digest — are never stored (nor read past want's size plus one byte),
// and the error wraps ErrCorrupt, saying what they were. It is how bytes
// sent by another process (a remote worker's upload) are taken in.
func (d *Dir) PutExpected(ctx context.Context, want cairn.ArtifactRef, r io.Reader) (cairn.ArtifactRef, error) {
	if err := want.Validate(); err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("put artifact: %w", err)
	}
	return d.put(ctx, want.MediaType, io.LimitReader(r, want.Size+1), &want, nil)
}

// put stores r's bytes (want's, when not nil); landing, when not nil, is
// called with their reference once they are checked, before the blob
// lands by rename (a Cache pins the digest, so that no eviction removes
// the blob as it lands).
func (d *Dir) put(ctx context.Context, mediaType string, r io.Reader, want *cairn.ArtifactRef, landing func(cairn.ArtifactRef)) (cairn.ArtifactRef, error) {
	f, err := os.CreateTemp(d.tmp, "put-*")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(d.tmp, 0o700); err == nil {
			f, err = os.CreateTemp(d.tmp, "put-*")
		}
	}
	if err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("put artifact: %w", err)
	}
	tmp := f.Name()
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(tmp)
		}
	}()

	h := sha256.New()
	buf := make([]byte, copyBufSize)
	n, err := io.CopyBuffer(io.MultiWriter(f, h), ctxReader{ctx: ctx, r: r}, buf)
	if err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("put artifact: %w", err)
	}
	if err := f.Chmod(0o400); err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("put artifact: %w", err)
	}
	if err := f.Sync(); err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("put artifact: %w", err)
	}
	if err := f.Close(); err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("put artifact: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	ref := cairn.ArtifactRef{Digest: "sha256:" + sum, Size: n, MediaType: mediaType}
	if want != nil && (ref.Digest != want.Digest || ref.Size != want.Size) {
		got := fmt.Sprintf("%d bytes hashing to %s", n, ref.Digest)
		if n > want.Size {
			got = fmt.Sprintf("more than %d bytes", want.Size)
		}
		return cairn.ArtifactRef{}, fmt.Errorf("put artifact %s (%d bytes): got %s: %w", want.Digest, want.Size, got, ErrCorrupt)
	}

	if landing != nil {
		landing(ref)
	}
	final := d.blobPath(sum)
	// The fresh copy replaces any existing blob rather than trusting it:
	// identical bytes make this idempotent, and it repairs a blob that was
	// damaged on disk, at the cost of one rename.
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("put artifact %s: %w", ref.Digest, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("put artifact %s: %w", ref.Digest, err)
	}
	committed = true
	if err := durable.Sync(dir); err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("put artifact %s: %w", ref.Digest, err)
	}
	// The blob's bytes were hashed as they were written: as known as
	// after a TouchVerified. Replacing the blob gave it another file, so
	// without this a re-run after an uncached run (which stores the same
	// bytes again) would hash every artifact it reuses.
	if id, ok := statID(final); ok && id.Size == n {
		d.remember(final, id)
	}
	return ref, nil
}

// PutFile stores the file at path, like Put.
func (d *Dir) PutFile(ctx context.Context, mediaType, path string) (cairn.ArtifactRef, error) {
	f, err := os.Open(path)
	if err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("put artifact from file: %w", err)
	}
	defer f.Close()
	return d.Put(ctx, mediaType, f)
}

// Open returns a reader of the artifact's bytes, verified as they are read:
// after the last byte the reader returns an error wrapping ErrCorrupt instead
// of io.EOF if the bytes do not match ref's digest and size. Open fails with
// an error wrapping cairn.ErrNotFound if the store does not hold ref, and
// with a plain error if ref is malformed.
func (d *Dir) Open(ctx context.Context, ref cairn.ArtifactRef) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := d.Path(ref)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open artifact %s: %w", ref.Digest, cairn.ErrNotFound)
		}
		return nil, fmt.Errorf("open artifact %s: %w", ref.Digest, err)
	}
	return &verifyingReader{f: f, h: sha256.New(), ref: ref}, nil
}

// Path returns the local file holding ref's bytes, for callers that need a
// file (a child process, say). The file is read-only and must not be
// modified. Path checks that the file exists and has ref's size, failing
// with an error wrapping cairn.ErrNotFound or ErrCorrupt, but does not hash
// it: read through Open where a full check is wanted.
func (d *Dir) Path(ref cairn.ArtifactRef) (string, error) {
	if err := ref.Validate(); err != nil {
		return "", err
	}
	p := d.blobPath(ref.Hex())
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("artifact %s: %w", ref.Digest, cairn.ErrNotFound)
		}
		return "", fmt.Errorf("artifact %s: %w", ref.Digest, err)
	}
	if st.Size() != ref.Size {
		return "", fmt.Errorf("artifact %s: stored size %d, want %d: %w", ref.Digest, st.Size(), ref.Size, ErrCorrupt)
	}
	return p, nil
}

// Stat returns the reference of the blob stored under digest, its size
// the stored file's (not hashed: read through Open for that); an error
// wrapping cairn.ErrNotFound when there is none.
func (d *Dir) Stat(digest string) (cairn.ArtifactRef, error) {
	ref := cairn.ArtifactRef{Digest: digest}
	if err := ref.Validate(); err != nil {
		return ref, err
	}
	st, err := os.Stat(d.blobPath(ref.Hex()))
	if errors.Is(err, fs.ErrNotExist) {
		return ref, fmt.Errorf("artifact %s: %w", digest, cairn.ErrNotFound)
	}
	if err != nil {
		return ref, fmt.Errorf("artifact %s: %w", digest, err)
	}
	ref.Size = st.Size()
	return ref, nil
}

// Gone reports whether no blob is stored under digest (cairn gc removed
// it, say); an error only when that cannot be told.
func (d *Dir) Gone(digest string) (bool, error) {
	_, err := d.Stat(digest)
	if errors.Is(err, cairn.ErrNotFound) {
		return true, nil
	}
	return false, err
}

// VerifiedPath is Path for a caller that hands the file to something
// that will not check it (a child process): the bytes are hashed first,
// and a blob that does not match its digest fails with an error wrapping
// ErrCorrupt that names it. A blob already checked by this Dir is not
// hashed again unless its file changed (size, times or inode).
func (d *Dir) VerifiedPath(ctx context.Context, ref cairn.ArtifactRef) (string, error) {
	p, err := d.Path(ref)
	if err != nil {
		return "", err
	}
	id, idOK := statID(p)
	if idOK {
		if v, ok := d.verified.Load(p); ok && v.(fileID) == id {
			return p, nil
		}
	}
	if err := d.hash(ctx, ref); err != nil {
		return "", err
	}
	if idOK {
		d.remember(p, id)
	}
	return p, nil
}

// TouchVerified is Touch for a blob about to be reused (a cache hit):
// marked used now where it can be, then checked — stored, ref's size, its
// bytes hashing to ref's digest, else an error wrapping cairn.ErrNotFound or ErrCorrupt. The
// bytes are hashed unless this Dir hashed them before (VerifiedPath, an
// earlier TouchVerified) and the file is as it was then but for this touch:
// its size, modification and change times and inode, read right before
// the touch (any write, rename or chmod moves the change time, which no
// caller can set back). A server re-running a cached workflow hashes each
// artifact once, not at every reuse.
func (d *Dir) TouchVerified(ctx context.Context, ref cairn.ArtifactRef) error {
	p, err := d.Path(ref)
	if err != nil {
		return err
	}
	before, beforeOK := statID(p)
	// A touch that fails (a blob another user owns) does not refuse the
	// reuse, as before TouchVerified: it only keeps gc's grace from
	// counting from now.
	_ = d.Touch(ref)
	after, afterOK := statID(p)
	if beforeOK && afterOK {
		if v, ok := d.verified.Load(p); ok && v.(fileID) == before && after.Size == before.Size && after.Ino == before.Ino {
			d.remember(p, after)
			return nil
		}
	}
	if err := d.hash(ctx, ref); err != nil {
		return err
	}
	if now, ok := statID(p); afterOK && ok && now == after {
		d.remember(p, after)
	}
	return nil
}

// Remembered reports whether this Dir hashed ref's blob before and its
// file is as it was then (size, times, inode): a TouchVerified of it now
// would not read it. A cache hit reused inside a write transaction
// (executor.Pool.ReuseHandedOut) hashes nothing large there.
func (d *Dir) Remembered(ref cairn.ArtifactRef) bool {
	if ref.Validate() != nil {
		return false
	}
	p := d.blobPath(ref.Hex())
	id, ok := statID(p)
	if !ok || id.Size != ref.Size {
		return false
	}
	v, ok := d.verified.Load(p)
	return ok && v.(fileID) == id
}

// hash reads ref's blob to its end through Open, which fails on bytes
// that are not ref's.
func (d *Dir) hash(ctx context.Context, ref cairn.ArtifactRef) error {
	rc, err := d.Open(ctx, ref)
	if err != nil {
		return err
	}
	defer rc.Close()
	d.hashed.Add(1)
	// io.Discard is wrapped: as an io.ReaderFrom it would read in its own
	// 8 KiB chunks, leaving the buffer unused (32 times the reads).
	_, err = io.CopyBuffer(struct{ io.Writer }{io.Discard}, ctxReader{ctx: ctx, r: rc}, make([]byte, copyBufSize))
	return err
}

// verifyingReader hashes what it reads and turns EOF into an error when
// the bytes are not the ones ref names.
type verifyingReader struct {
	f   *os.File
	h   hash.Hash
	ref cairn.ArtifactRef
	n   int64
	err error // sticky

	// ReadAt's: the bytes read again in order from offset 0, hashed as
	// Read's are, so that what is read again is verified too.
	againMu sync.Mutex
	againH  hash.Hash
	againN  int64
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.ref.Size {
		v.err = fmt.Errorf("read artifact %s: more than %d bytes stored: %w", v.ref.Digest, v.ref.Size, ErrCorrupt)
		return n, v.err
	}
	if err == io.EOF {
		if got := "sha256:" + hex.EncodeToString(v.h.Sum(nil)); v.n != v.ref.Size || got != v.ref.Digest {
			v.err = fmt.Errorf("read artifact %s: got %d bytes hashing to %s: %w", v.ref.Digest, v.n, got, ErrCorrupt)
			return n, v.err
		}
		v.err = io.EOF
	} else if err != nil {
		v.err = fmt.Errorf("read artifact %s: %w", v.ref.Digest, err)
	}
	return n, v.err
}

// ReadAt reads the artifact's bytes again once Read has read them all
// and found them to be ref's (io.EOF): before that it fails. The bytes
// read again are hashed again, with those before them (a read that does
// not start where the last one ended hashes the bytes before it first:
// reads in order from any offset hash each byte once), and the read that
// reaches the end fails (ErrCorrupt) when they are not ref's (the file
// was written to since Read verified it): nothing unverified is read
// through it without an error by its end.
func (v *verifyingReader) ReadAt(p []byte, off int64) (int, error) {
	if v.err != io.EOF {
		return 0, fmt.Errorf("read artifact %s again: it is read again only once read to its end and verified", v.ref.Digest)
	}
	if off < 0 || off > v.ref.Size {
		return 0, fmt.Errorf("read artifact %s again: offset %d is outside its %d bytes", v.ref.Digest, off, v.ref.Size)
	}
	v.againMu.Lock()
	defer v.againMu.Unlock()
	if v.againH == nil || off != v.againN {
		// Not where the last ReadAt ended: start over, the bytes before
		// off hashed first (a caller that Read a prefix before it began
		// reading again starts past it).
		if v.againH == nil {
			v.againH = sha256.New()
		}
		v.againH.Reset()
		n, err := io.Copy(v.againH, io.NewSectionReader(v.f, 0, off))
		v.againN = n
		if err != nil {
			return 0, fmt.Errorf("read artifact %s again: %w", v.ref.Digest, err)
		}
		if n != off {
			return 0, fmt.Errorf("read artifact %s again: %d bytes before offset %d: it changed since it was verified: %w", v.ref.Digest, n, off, ErrCorrupt)
		}
	}
	if int64(len(p)) > v.ref.Size-off {
		p = p[:max(v.ref.Size-off, 0)]
	}
	n, err := v.f.ReadAt(p, off)
	v.againH.Write(p[:n])
	v.againN += int64(n)
	if v.againN == v.ref.Size {
		if got := "sha256:" + hex.EncodeToString(v.againH.Sum(nil)); got != v.ref.Digest {
			return n, fmt.Errorf("read artifact %s again: its bytes changed since they were verified (they hash to %s now): %w", v.ref.Digest, got, ErrCorrupt)
		}
		return n, io.EOF
	}
	if err == io.EOF {
		return n, fmt.Errorf("read artifact %s again: %d bytes, not %d: it changed since it was verified: %w", v.ref.Digest, v.againN, v.ref.Size, ErrCorrupt)
	}
	if err != nil {
		return n, fmt.Errorf("read artifact %s again: %w", v.ref.Digest, err)
	}
	return n, nil
}

// Seek tells where Read is (Seek(0, io.SeekCurrent)), for a caller that
// reads the bytes again through ReadAt; a reader that verifies what it
// reads in order does not move.
func (v *verifyingReader) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekCurrent {
		return 0, fmt.Errorf("read artifact %s: a verified read goes in order: it cannot seek", v.ref.Digest)
	}
	return v.n, nil
}

// Size is the artifact's size, as its reference says.
func (v *verifyingReader) Size() int64 { return v.ref.Size }

func (v *verifyingReader) Close() error { return v.f.Close() }

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
