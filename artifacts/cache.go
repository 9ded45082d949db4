package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cairnml/cairn"
)

// Cache is a Dir used as a cache bounded in size (a remote worker's
// HOME/cache): once the blobs it holds pass Max bytes, the least recently
// used go until they fit again, except a blob in use — an attempt reading
// it (from Open to the reader's Close), or one being fetched or stored and
// uploaded (from Hold, Put or PutExpected to their release). Blobs in use
// may hold it above Max for as long as they are: it is trimmed again when
// they are released. A blob is used when it is stored, opened or touched;
// its file's modification time keeps that across restarts (NewCache reads
// it). The cache is this process's: another process storing into the same
// folder is not counted until the next NewCache.
type Cache struct {
	dir *Dir
	max int64 // 0: no bound

	mu    sync.Mutex
	blobs map[string]*cachedBlob // by digest
	total int64                  // bytes of the blobs present
}

// cachedBlob is one blob of a Cache, or a digest held before it lands.
type cachedBlob struct {
	size    int64
	used    time.Time
	pins    int
	present bool
}

// NewCache reads the blobs d holds and bounds them to max bytes (0: no
// bound), removing the least recently used past it.
func NewCache(d *Dir, max int64) (*Cache, error) {
	if max < 0 {
		return nil, fmt.Errorf("cache size %d: want 0 (no bound) or more", max)
	}
	c := &Cache{dir: d, max: max, blobs: map[string]*cachedBlob{}}
	err := d.Blobs(func(b Blob) error {
		c.blobs[b.Digest] = &cachedBlob{size: b.Size, used: b.ModTime, present: true}
		c.total += b.Size
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trimLocked()
	return c, nil
}

// Dir is the folder the cache keeps its blobs in.
func (c *Cache) Dir() *Dir { return c.dir }

// Max is the bound (0: none).
func (c *Cache) Max() int64 { return c.max }

// Size is the bytes of the blobs the cache holds now.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// Hold keeps the blob of digest, present or to come, from being evicted
// until release is called (once; later calls do nothing).
func (c *Cache) Hold(digest string) (release func()) {
	c.mu.Lock()
	c.pinLocked(digest)
	c.mu.Unlock()
	return c.releaser(digest)
}

func (c *Cache) pinLocked(digest string) *cachedBlob {
	b := c.blobs[digest]
	if b == nil {
		b = &cachedBlob{}
		c.blobs[digest] = b
	}
	b.pins++
	return b
}

// releaser returns the release of one pin of digest: the cache is
// trimmed, as the blob may now go.
func (c *Cache) releaser(digest string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			b := c.blobs[digest]
			if b == nil {
				return
			}
			b.pins--
			if b.pins == 0 && !b.present {
				delete(c.blobs, digest)
			}
			c.trimLocked()
		})
	}
}

// Open returns a reader of ref's bytes (Dir.Open), the blob held until
// the reader is closed and marked used now; an error wrapping
// cairn.ErrNotFound when the cache lacks it.
func (c *Cache) Open(ctx context.Context, ref cairn.ArtifactRef) (io.ReadCloser, error) {
	release := c.Hold(ref.Digest)
	rc, err := c.dir.Open(ctx, ref)
	if err != nil {
		release()
		return nil, err
	}
	c.use(ref)
	return &heldReader{ReadCloser: rc, release: release}, nil
}

// heldReader releases its blob when closed.
type heldReader struct {
	io.ReadCloser
	release func()
}

// ReadAt and Seek are the blob reader's (Dir.Open's verifying reader).
func (h *heldReader) ReadAt(p []byte, off int64) (int, error) {
	ra, ok := h.ReadCloser.(io.ReaderAt)
	if !ok {
		return 0, errors.New("read artifact again: its reader cannot")
	}
	return ra.ReadAt(p, off)
}

func (h *heldReader) Seek(offset int64, whence int) (int64, error) {
	sk, ok := h.ReadCloser.(io.Seeker)
	if !ok {
		return 0, errors.New("read artifact: its reader cannot seek")
	}
	return sk.Seek(offset, whence)
}

// Size is the blob reader's; -1 if it has none.
func (h *heldReader) Size() int64 {
	if s, ok := h.ReadCloser.(interface{ Size() int64 }); ok {
		return s.Size()
	}
	return -1
}

func (h *heldReader) Close() error {
	err := h.ReadCloser.Close()
	h.release()
	return err
}

// use marks ref's blob used now, on disk too, and counts it if the cache
// did not know it (stored by another process).
func (c *Cache) use(ref cairn.ArtifactRef) {
	_ = c.dir.Touch(ref)
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.blobs[ref.Digest]
	if b == nil {
		b = &cachedBlob{}
		c.blobs[ref.Digest] = b
	}
	if !b.present {
		b.present, b.size = true, ref.Size
		c.total += ref.Size
		defer c.trimLocked()
	}
	b.used = time.Now()
}

// Drop removes ref's blob from the cache, found damaged (its bytes are
// not its digest's): the next Open finds it missing, and the caller
// fetches it again. A reader that has it open reads on what it has.
func (c *Cache) Drop(ref cairn.ArtifactRef) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := os.Remove(c.dir.blobPath(ref.Hex())); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("drop artifact %s: %w", ref.Digest, err)
	}
	if b := c.blobs[ref.Digest]; b != nil && b.present {
		c.total -= b.size
		b.present = false
		if b.pins == 0 {
			delete(c.blobs, ref.Digest)
		}
	}
	return nil
}

// Touch marks ref's blob used now.
func (c *Cache) Touch(ref cairn.ArtifactRef) error {
	if err := c.dir.Touch(ref); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.blobs[ref.Digest]; b != nil {
		b.used = time.Now()
	}
	return nil
}

// Put stores r's bytes (Dir.Put) and holds the blob until release is
// called: the caller uploads it meanwhile. The cache is trimmed at the
// release.
func (c *Cache) Put(ctx context.Context, mediaType string, r io.Reader) (cairn.ArtifactRef, func(), error) {
	return c.put(ctx, mediaType, r, nil)
}

// PutExpected stores r's bytes if they are want's (Dir.PutExpected) and
// holds the blob until release is called.
func (c *Cache) PutExpected(ctx context.Context, want cairn.ArtifactRef, r io.Reader) (cairn.ArtifactRef, func(), error) {
	if err := want.Validate(); err != nil {
		return cairn.ArtifactRef{}, nil, fmt.Errorf("put artifact: %w", err)
	}
	return c.put(ctx, want.MediaType, io.LimitReader(r, want.Size+1), &want)
}

func (c *Cache) put(ctx context.Context, mediaType string, r io.Reader, want *cairn.ArtifactRef) (cairn.ArtifactRef, func(), error) {
	var release func()
	// Held before it lands: an eviction of the same bytes (unpinned, least
	// recently used) cannot remove the fresh blob after its rename.
	ref, err := c.dir.put(ctx, mediaType, r, want, func(ref cairn.ArtifactRef) { release = c.Hold(ref.Digest) })
	if err != nil {
		if release != nil {
			release()
		}
		return ref, nil, err
	}
	c.mu.Lock()
	b := c.blobs[ref.Digest] // held: present
	if !b.present {
		b.present, b.size = true, ref.Size
		c.total += ref.Size
	}
	b.used = time.Now()
	c.trimLocked() // others make room for it now
	c.mu.Unlock()
	return ref, release, nil
}

// trimLocked evicts the least recently used blobs that are not held
// until the cache fits its bound (or only held ones are left).
func (c *Cache) trimLocked() {
	if c.max == 0 || c.total <= c.max {
		return
	}
	type candidate struct {
		digest string
		used   time.Time
	}
	var cands []candidate
	for d, b := range c.blobs {
		if b.present && b.pins == 0 {
			cands = append(cands, candidate{d, b.used})
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int { return a.used.Compare(b.used) })
	for _, cd := range cands {
		if c.total <= c.max {
			return
		}
		b := c.blobs[cd.digest]
		ref := cairn.ArtifactRef{Digest: cd.digest}
		if err := os.Remove(c.dir.blobPath(ref.Hex())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue // kept, and counted: tried again at the next trim
		}
		c.total -= b.size
		delete(c.blobs, cd.digest)
	}
}
