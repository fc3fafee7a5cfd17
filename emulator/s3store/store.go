// Package s3store is an in-memory, versioned gofakes3 backend written for
// uploadonce's workload: many writers, each to its own key, then a copy and
// a delete of that key.
//
// Its contract, beyond gofakes3.Backend and gofakes3.VersionedBackend:
//  1. No lock spans a bucket. Buckets are found in a copy-on-write map, keys
//     in a concurrent map, and each key has its own lock. Get, head, put and
//     delete cost the same whatever the bucket holds.
//  2. A body is hashed once, when it is written. Objects are immutable, so a
//     copy shares its source's bytes and hash.
//  3. Versions follow S3: on a versioned bucket each write is a new version
//     and a delete without a version id adds a delete marker; deleting a
//     version by id makes the next older one current; ListObjectVersions
//     lists each key newest first. A bucket never versioned keeps one
//     ("null") version per key; a suspended bucket replaces its null version.
//  4. Every version carries its own Last-Modified (in Object.Metadata and in
//     listings), copies included.
//  5. Memory is the bytes stored plus a small fixed cost per version; a key
//     whose last version is deleted is forgotten.
//
// Listing sorts the keys once per change of the key set, not per write, and
// serves every page of an unchanged bucket from that sorted index.
package s3store

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// Store is the backend. The zero value is not usable; call New.
type Store struct {
	ts    gofakes3.TimeSource
	nonce string // first half of every version id: ids differ across stores
	seq   atomic.Uint64

	mu      sync.Mutex                         // serialises bucket creation and deletion
	buckets atomic.Pointer[map[string]*bucket] // read without a lock; replaced whole
}

var (
	_ gofakes3.Backend          = (*Store)(nil)
	_ gofakes3.VersionedBackend = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithTimeSource sets the clock for Last-Modified and bucket creation dates.
// The default is gofakes3.DefaultTimeSource().
func WithTimeSource(ts gofakes3.TimeSource) Option { return func(s *Store) { s.ts = ts } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{}
	for _, o := range opts {
		o(s)
	}
	if s.ts == nil {
		s.ts = gofakes3.DefaultTimeSource()
	}
	s.nonce = hex16(uint64(time.Now().UnixNano()))
	empty := map[string]*bucket{}
	s.buckets.Store(&empty)
	return s
}

func hex16(n uint64) string {
	b := strconv.AppendUint(make([]byte, 0, 16), n, 16)
	for len(b) < 16 {
		b = append([]byte{'0'}, b...)
	}
	return string(b)
}

// nextVersion returns a new version id: 32 hex digits, unique in the store.
func (s *Store) nextVersion() gofakes3.VersionID {
	return gofakes3.VersionID(s.nonce + hex16(s.seq.Add(1)))
}

// Versioning states, held in bucket.versioning.
const (
	versioningNone int32 = iota
	versioningEnabled
	versioningSuspended
)

type bucket struct {
	name       string
	created    time.Time
	versioning atomic.Int32
	objects    sync.Map // key -> *object

	// keysChanged counts keys appearing and disappearing; the sorted index
	// is rebuilt when it moved.
	keysChanged atomic.Uint64
	idxMu       sync.Mutex
	idxAt       uint64
	idx         []string
}

// object is one key: its versions, oldest first, the last one current.
type object struct {
	mu       sync.RWMutex
	versions []*version
	gone     bool // removed from the bucket's map: writers must look again
}

// version is immutable once stored.
type version struct {
	id       gofakes3.VersionID // "" is S3's null version
	marker   bool
	body     []byte
	hash     []byte
	etag     string            // the ETag when it is not hex(hash): a multipart upload's "md5-N"; "" otherwise
	meta     map[string]string // the write's own metadata, nil when none; Last-Modified is added on reads
	modified time.Time
}

func (s *Store) bucket(name string) (*bucket, error) {
	if b := (*s.buckets.Load())[name]; b != nil {
		return b, nil
	}
	return nil, gofakes3.BucketNotFound(name)
}

// ListBuckets implements gofakes3.Backend, sorted by name.
func (s *Store) ListBuckets() ([]gofakes3.BucketInfo, error) {
	bs := *s.buckets.Load()
	out := make([]gofakes3.BucketInfo, 0, len(bs))
	for _, name := range slices.Sorted(maps.Keys(bs)) {
		out = append(out, gofakes3.BucketInfo{Name: name, CreationDate: gofakes3.NewContentTime(bs[name].created)})
	}
	return out, nil
}

// CreateBucket implements gofakes3.Backend.
func (s *Store) CreateBucket(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.buckets.Load()
	if old[name] != nil {
		return gofakes3.ResourceError(gofakes3.ErrBucketAlreadyExists, name)
	}
	next := maps.Clone(old)
	next[name] = &bucket{name: name, created: s.ts.Now()}
	s.buckets.Store(&next)
	return nil
}

// BucketExists implements gofakes3.Backend.
func (s *Store) BucketExists(name string) (bool, error) {
	_, err := s.bucket(name)
	return err == nil, nil
}

// DeleteBucket implements gofakes3.Backend: only an empty bucket goes.
func (s *Store) DeleteBucket(name string) error { return s.deleteBucket(name, false) }

// ForceDeleteBucket implements gofakes3.Backend.
func (s *Store) ForceDeleteBucket(name string) error { return s.deleteBucket(name, true) }

func (s *Store) deleteBucket(name string, force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.buckets.Load()
	b := old[name]
	if b == nil {
		return gofakes3.BucketNotFound(name)
	}
	if !force {
		empty := true
		b.objects.Range(func(any, any) bool { empty = false; return false })
		if !empty {
			return gofakes3.ResourceError(gofakes3.ErrBucketNotEmpty, name)
		}
	}
	next := maps.Clone(old)
	delete(next, name)
	s.buckets.Store(&next)
	return nil
}

// VersioningConfiguration implements gofakes3.VersionedBackend.
func (s *Store) VersioningConfiguration(name string) (gofakes3.VersioningConfiguration, error) {
	b, err := s.bucket(name)
	if err != nil {
		return gofakes3.VersioningConfiguration{}, err
	}
	var out gofakes3.VersioningConfiguration
	switch b.versioning.Load() {
	case versioningEnabled:
		out.Status = gofakes3.VersioningEnabled
	case versioningSuspended:
		out.Status = gofakes3.VersioningSuspended
	}
	return out, nil
}

// SetVersioningConfiguration implements gofakes3.VersionedBackend. As in
// S3, a bucket once versioned can be suspended but never unversioned.
func (s *Store) SetVersioningConfiguration(name string, v gofakes3.VersioningConfiguration) error {
	if v.MFADelete.Enabled() {
		return gofakes3.ErrNotImplemented
	}
	b, err := s.bucket(name)
	if err != nil {
		return err
	}
	if v.Enabled() {
		b.versioning.Store(versioningEnabled)
	} else {
		b.versioning.CompareAndSwap(versioningEnabled, versioningSuspended)
	}
	return nil
}

// load returns key's object, or nil.
func (b *bucket) load(key string) *object {
	o, _ := b.objects.Load(key)
	obj, _ := o.(*object)
	return obj
}

// lockForWrite returns key's object, created if needed, locked for writing.
func (b *bucket) lockForWrite(key string) *object {
	for {
		o := b.load(key)
		if o == nil {
			fresh := &object{}
			v, loaded := b.objects.LoadOrStore(key, fresh)
			if !loaded {
				b.keysChanged.Add(1)
			}
			o = v.(*object)
		}
		o.mu.Lock()
		if !o.gone {
			return o
		}
		o.mu.Unlock()
	}
}

// unlockWrite unlocks o, first forgetting key when o has no versions left.
func (b *bucket) unlockWrite(key string, o *object) {
	if len(o.versions) == 0 && !o.gone {
		o.gone = true
		b.objects.CompareAndDelete(key, o)
		b.keysChanged.Add(1)
	}
	o.mu.Unlock()
}

// current returns o's current version, or nil. o must be locked.
func (o *object) current() *version {
	if len(o.versions) == 0 {
		return nil
	}
	return o.versions[len(o.versions)-1]
}

// find returns the index of version id, or -1. o must be locked.
func (o *object) find(id gofakes3.VersionID) int {
	if id == "null" {
		id = ""
	}
	for i, v := range o.versions {
		if v.id == id {
			return i
		}
	}
	return -1
}

// add makes v current under the bucket's versioning state. o must be
// locked for writing.
func (o *object) add(state int32, v *version) {
	switch state {
	case versioningEnabled:
		o.versions = append(o.versions, v)
	case versioningSuspended:
		if i := o.find(""); i >= 0 {
			o.versions = slices.Delete(o.versions, i, i+1)
		}
		o.versions = append(o.versions, v)
	default:
		clear(o.versions)
		o.versions = append(o.versions[:0], v)
	}
}

// newVersion stamps a version for a write at now on a bucket in state.
func (s *Store) newVersion(state int32, now time.Time) *version {
	v := &version{modified: now}
	if state == versioningEnabled {
		v.id = s.nextVersion()
	}
	return v
}

// eTag is v's ETag, without quotes.
func (v *version) eTag() string {
	if v.etag != "" {
		return v.etag
	}
	return hex.EncodeToString(v.hash)
}

// ETagMetaKey is the metadata key under which GetObject and HeadObject
// report an ETag that is not hex(Object.Hash), a multipart upload's
// "md5-N", without quotes. gofakes3 writes every metadata key as a response
// header and sets ETag from Hash itself; the server in front of it must
// turn this key into the ETag header and remove it (fakes3 does).
const ETagMetaKey = "X-Amz-Uploadonce-Etag"

// ObjectETag is the ETag of an object GetObject or HeadObject returned,
// without quotes.
func ObjectETag(obj *gofakes3.Object) string {
	if e := obj.Metadata[ETagMetaKey]; e != "" {
		return e
	}
	return hex.EncodeToString(obj.Hash)
}

// ownMeta is a write's metadata as a version keeps it: a copy, so that no
// caller's later change reaches the store, and nil when there is none. A
// store of many small objects would otherwise spend more on maps than on
// bytes.
func ownMeta(meta map[string]string) map[string]string {
	if len(meta) == 0 {
		return nil
	}
	return maps.Clone(meta)
}

// withKept returns a copy of meta plus the keys of src that keep names.
func withKept(meta, src map[string]string, keep []string) map[string]string {
	out := ownMeta(meta)
	for _, k := range keep {
		if v, ok := src[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// WithChecksums returns a copy of meta whose x-amz-checksum-* entries are
// sums, and only those.
func WithChecksums(meta, sums map[string]string) map[string]string {
	out := make(map[string]string, len(meta)+len(sums))
	for k, v := range meta {
		if !strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") {
			out[k] = v
		}
	}
	maps.Copy(out, sums)
	return out
}

// withLastModified returns a copy of meta with this write's Last-Modified.
func withLastModified(meta map[string]string, at time.Time) map[string]string {
	out := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		out[k] = v
	}
	out["Last-Modified"] = at.UTC().Format(http.TimeFormat)
	return out
}

// toObject describes v; with withBody, its bytes in rng.
func (v *version) toObject(key string, rng *gofakes3.ObjectRangeRequest, withBody bool) (*gofakes3.Object, error) {
	obj := &gofakes3.Object{Name: key, Metadata: withLastModified(v.meta, v.modified), Size: int64(len(v.body)), Hash: v.hash,
		VersionID: v.id, IsDeleteMarker: v.marker, Contents: io.NopCloser(bytes.NewReader(nil))}
	if v.etag != "" {
		obj.Metadata[ETagMetaKey] = v.etag
	}
	if !withBody {
		return obj, nil
	}
	r, err := rng.Range(obj.Size)
	if err != nil {
		return nil, err
	}
	data := v.body
	if r != nil {
		data = data[r.Start : r.Start+r.Length]
		obj.Range = r
	}
	obj.Contents = io.NopCloser(bytes.NewReader(data))
	return obj, nil
}

// Written describes a version a write made.
type Written struct {
	VersionID gofakes3.VersionID
	Hash      []byte // MD5 of the body: the single-part ETag
	// ETagOverride is the ETag when it is not the hex MD5 (a multipart
	// upload's "md5-N", without quotes); "" otherwise.
	ETagOverride string
	Size         int64
	LastModified time.Time
}

// ETag is the version's ETag, without quotes: the hex MD5 unless
// ETagOverride is set.
func (w Written) ETag() string {
	if w.ETagOverride != "" {
		return w.ETagOverride
	}
	return hex.EncodeToString(w.Hash)
}

// PutObject implements gofakes3.Backend.
func (s *Store) PutObject(bucketName, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	body, err := gofakes3.ReadAll(input, size)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	w, err := s.PutBytes(bucketName, key, meta, body, nil, cond)
	return gofakes3.PutObjectResult{VersionID: w.VersionID}, err
}

// PutBytes stores body, which the store keeps and the caller must no
// longer change. hash is its MD5 when the caller knows it (nil: computed
// here), so that a body is hashed once.
func (s *Store) PutBytes(bucketName, key string, meta map[string]string, body, hash []byte, cond *gofakes3.PutConditions) (Written, error) {
	return s.PutBytesETag(bucketName, key, meta, body, hash, "", cond)
}

// PutBytesETag is PutBytes for a version whose ETag is etag (without
// quotes) rather than the hex MD5 of its body, as a completed multipart
// upload's is; "" means the MD5. The hash stays the body's MD5, which a
// copy shares; the copy's ETag is that MD5, as in S3.
func (s *Store) PutBytesETag(bucketName, key string, meta map[string]string, body, hash []byte, etag string, cond *gofakes3.PutConditions) (Written, error) {
	b, err := s.bucket(bucketName)
	if err != nil {
		return Written{}, err
	}
	if hash == nil {
		sum := md5.Sum(body)
		hash = sum[:]
	}
	return s.write(b, key, cond, func(v *version) {
		v.body, v.hash, v.etag, v.meta = body, hash, etag, ownMeta(meta)
	})
}

// write adds the version fill completes to key, when cond holds.
func (s *Store) write(b *bucket, key string, cond *gofakes3.PutConditions, fill func(*version)) (Written, error) {
	o := b.lockForWrite(key)
	defer b.unlockWrite(key, o)
	if err := checkPutConditions(cond, o.current()); err != nil {
		return Written{}, err
	}
	state := b.versioning.Load()
	v := s.newVersion(state, s.ts.Now())
	fill(v)
	o.add(state, v)
	return Written{VersionID: v.id, Hash: v.hash, ETagOverride: v.etag, Size: int64(len(v.body)), LastModified: v.modified}, nil
}

// checkPutConditions is gofakes3.CheckPutConditions against cur's ETag,
// which is not hex(hash) for a multipart upload.
func checkPutConditions(cond *gofakes3.PutConditions, cur *version) error {
	if cond == nil {
		return nil
	}
	exists := cur != nil && !cur.marker
	if cond.IfNoneMatch != nil && *cond.IfNoneMatch == "*" && exists {
		return gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "The object already exists")
	}
	if cond.IfMatch != nil {
		if !exists {
			return gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "The object does not exist")
		}
		want := *cond.IfMatch
		if len(want) >= 2 && want[0] == '"' && want[len(want)-1] == '"' {
			want = want[1 : len(want)-1]
		}
		if want != cur.eTag() {
			return gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "The ETag does not match")
		}
	}
	return nil
}

// CopyInput names a copy for Copy.
type CopyInput struct {
	SrcBucket, SrcKey string
	// SrcVersionID selects a version; empty means the current one.
	SrcVersionID gofakes3.VersionID
	DstBucket    string
	DstKey       string
	// Meta is the copy's metadata; nil keeps the source's.
	Meta map[string]string
	// Keep names the source's metadata keys a copy with Meta keeps (an
	// object's checksum, say, which a new metadata does not replace).
	Keep []string
	// IfMatch, when set, is the ETag (without quotes) the source must
	// have, else the copy fails with gofakes3.ErrPreconditionFailed.
	IfMatch string
	// Checksum, when set, computes from the copied bytes the checksum
	// metadata that replaces the source's (a copy that asks for another
	// algorithm, x-amz-checksum-algorithm).
	Checksum func(body []byte) map[string]string
}

// Copy writes a new version of DstKey that shares the source's bytes and
// hash. Its ETag is the MD5 even when the source's is a multipart one, as
// in S3.
func (s *Store) Copy(in CopyInput) (Written, error) {
	src, err := s.version(in.SrcBucket, in.SrcKey, in.SrcVersionID)
	if err != nil {
		return Written{}, err
	}
	if src.marker {
		return Written{}, gofakes3.KeyNotFound(in.SrcKey)
	}
	if in.IfMatch != "" && in.IfMatch != src.eTag() {
		return Written{}, gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "The source ETag does not match")
	}
	dst, err := s.bucket(in.DstBucket)
	if err != nil {
		return Written{}, err
	}
	meta := src.meta // versions never change their map: share it
	if in.Meta != nil {
		meta = withKept(in.Meta, src.meta, in.Keep)
	}
	if in.Checksum != nil {
		meta = WithChecksums(meta, in.Checksum(src.body))
	}
	return s.write(dst, in.DstKey, nil, func(v *version) {
		v.body, v.hash, v.meta = src.body, src.hash, meta
	})
}

// CopyObject implements gofakes3.Backend.
func (s *Store) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	w, err := s.Copy(CopyInput{SrcBucket: srcBucket, SrcKey: srcKey, DstBucket: dstBucket, DstKey: dstKey, Meta: meta})
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	return gofakes3.CopyObjectResult{ETag: `"` + w.ETag() + `"`, LastModified: gofakes3.NewContentTime(w.LastModified)}, nil
}

// version returns key's version id, or its current version when id is
// empty. A current delete marker is ErrNoSuchKey; a missing id is
// ErrNoSuchVersion.
func (s *Store) version(bucketName, key string, id gofakes3.VersionID) (*version, error) {
	b, err := s.bucket(bucketName)
	if err != nil {
		return nil, err
	}
	o := b.load(key)
	if o == nil {
		if id != "" {
			return nil, gofakes3.ErrNoSuchVersion
		}
		return nil, gofakes3.KeyNotFound(key)
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	if id == "" {
		cur := o.current()
		if cur == nil || cur.marker {
			return nil, gofakes3.KeyNotFound(key)
		}
		return cur, nil
	}
	i := o.find(id)
	if i < 0 {
		return nil, gofakes3.ErrNoSuchVersion
	}
	return o.versions[i], nil
}

// GetObject implements gofakes3.Backend.
func (s *Store) GetObject(bucketName, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	return s.GetObjectVersion(bucketName, key, "", rng)
}

// HeadObject implements gofakes3.Backend.
func (s *Store) HeadObject(bucketName, key string) (*gofakes3.Object, error) {
	return s.HeadObjectVersion(bucketName, key, "")
}

// GetObjectVersion implements gofakes3.VersionedBackend. A delete marker's
// version is returned with IsDeleteMarker set, which gofakes3 answers as S3
// does.
func (s *Store) GetObjectVersion(bucketName, key string, id gofakes3.VersionID, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	v, err := s.version(bucketName, key, id)
	if err != nil {
		return nil, err
	}
	return v.toObject(key, rng, true)
}

// HeadObjectVersion implements gofakes3.VersionedBackend.
func (s *Store) HeadObjectVersion(bucketName, key string, id gofakes3.VersionID) (*gofakes3.Object, error) {
	v, err := s.version(bucketName, key, id)
	if err != nil {
		return nil, err
	}
	return v.toObject(key, nil, false)
}

// DeleteObject implements gofakes3.Backend. On a versioned bucket it adds
// a delete marker, as S3 does even when the key has no object; on an
// unversioned one it forgets the key.
func (s *Store) DeleteObject(bucketName, key string) (gofakes3.ObjectDeleteResult, error) {
	b, err := s.bucket(bucketName)
	if err != nil {
		return gofakes3.ObjectDeleteResult{}, err
	}
	state := b.versioning.Load()
	if state == versioningNone && b.load(key) == nil {
		return gofakes3.ObjectDeleteResult{}, nil
	}
	o := b.lockForWrite(key)
	defer b.unlockWrite(key, o)
	if state == versioningNone {
		clear(o.versions)
		o.versions = o.versions[:0]
		return gofakes3.ObjectDeleteResult{}, nil
	}
	v := s.newVersion(state, s.ts.Now())
	v.marker = true
	o.add(state, v)
	return gofakes3.ObjectDeleteResult{IsDeleteMarker: true, VersionID: v.id}, nil
}

// DeleteObjectVersion implements gofakes3.VersionedBackend. The next older
// version, if any, becomes current. A missing version is not an error, and
// the result's VersionID is then empty.
func (s *Store) DeleteObjectVersion(bucketName, key string, id gofakes3.VersionID) (gofakes3.ObjectDeleteResult, error) {
	b, err := s.bucket(bucketName)
	if err != nil {
		return gofakes3.ObjectDeleteResult{}, err
	}
	if b.load(key) == nil {
		return gofakes3.ObjectDeleteResult{}, nil
	}
	o := b.lockForWrite(key)
	defer b.unlockWrite(key, o)
	i := o.find(id)
	if i < 0 {
		return gofakes3.ObjectDeleteResult{}, nil
	}
	v := o.versions[i]
	o.versions = slices.Delete(o.versions, i, i+1)
	return gofakes3.ObjectDeleteResult{IsDeleteMarker: v.marker, VersionID: v.id}, nil
}

// DeleteMulti implements gofakes3.Backend.
func (s *Store) DeleteMulti(bucketName string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	var out gofakes3.MultiDeleteResult
	if _, err := s.bucket(bucketName); err != nil {
		return out, err
	}
	for _, k := range keys {
		if _, err := s.DeleteObject(bucketName, k); err != nil {
			out.Error = append(out.Error, gofakes3.ErrorResultFromError(err))
			continue
		}
		out.Deleted = append(out.Deleted, gofakes3.ObjectID{Key: k})
	}
	return out, nil
}

// DeleteMultiVersions implements gofakes3.VersionedBackend.
func (s *Store) DeleteMultiVersions(bucketName string, objects ...gofakes3.ObjectID) (gofakes3.MultiDeleteResult, error) {
	var out gofakes3.MultiDeleteResult
	if _, err := s.bucket(bucketName); err != nil {
		return out, err
	}
	for _, o := range objects {
		var err error
		if o.VersionID == "" {
			_, err = s.DeleteObject(bucketName, o.Key)
		} else {
			_, err = s.DeleteObjectVersion(bucketName, o.Key, gofakes3.VersionID(o.VersionID))
		}
		if err != nil {
			out.Error = append(out.Error, gofakes3.ErrorResultFromError(err))
			continue
		}
		out.Deleted = append(out.Deleted, o)
	}
	return out, nil
}

// VersionInfo describes one version, for KeyVersions.
type VersionInfo struct {
	VersionID    gofakes3.VersionID
	Hash         []byte
	ETag         string // without quotes; "" for a delete marker
	Size         int64
	LastModified time.Time
	DeleteMarker bool
}

// KeyVersions returns exactly key's versions and delete markers, oldest
// first, without walking the bucket.
func (s *Store) KeyVersions(bucketName, key string) ([]VersionInfo, error) {
	b, err := s.bucket(bucketName)
	if err != nil {
		return nil, err
	}
	o := b.load(key)
	if o == nil {
		return nil, nil
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]VersionInfo, len(o.versions))
	for i, v := range o.versions {
		out[i] = VersionInfo{VersionID: v.id, Hash: v.hash, Size: int64(len(v.body)), LastModified: v.modified, DeleteMarker: v.marker}
		if !v.marker {
			out[i].ETag = v.eTag()
		}
	}
	return out, nil
}
