package fakes3

import (
	"bytes"
	"crypto/md5"
	"hash/fnv"
	"io"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"

	"github.com/uploadonce/uploadonce/emulator/s3event"
	"github.com/uploadonce/uploadonce/emulator/s3store"
)

// Notify receives one record per committed write or delete.
type Notify func(s3event.Write)

// hooked decorates a gofakes3.Backend: every committed write or delete emits
// one s3event.Write, and writes to one key are serialised so that sequencers
// follow commit order. It does not implement VersionedBackend itself; see
// wrapBackend, which keeps that capability when the inner backend has it.
type hooked struct {
	inner  gofakes3.Backend
	bodies bodyStore // inner's fast path, or nil
	notify Notify
	now    func() time.Time
	locks  [256]sync.Mutex
	// completing holds the CompleteMultipartUpload in progress per bucket
	// and key: gofakes3 stores the assembled object with PutObject, which
	// must then store the upload's ETag and checksum and emit
	// CompleteMultipartUpload. completeLocks serialise the completions of a
	// key (apart from locks, which PutObject takes).
	completeLocks [64]sync.Mutex
	completingMu  sync.Mutex
	completing    map[string]*completion
	// pending holds, by putIDHeader, the checksumTee of each PUT in
	// progress that declared no checksum.
	pending sync.Map
}

func completionKey(bucket, key string) string { return bucket + "\x00" + key }

// beginCompletion makes c key's completion in progress until done runs;
// it waits for another completion of key to end first.
func (h *hooked) beginCompletion(bucket, key string, c *completion) (done func()) {
	id := completionKey(bucket, key)
	f := fnv.New32a()
	_, _ = f.Write([]byte(id))
	mu := &h.completeLocks[f.Sum32()%uint32(len(h.completeLocks))]
	mu.Lock()
	h.completingMu.Lock()
	if h.completing == nil {
		h.completing = map[string]*completion{}
	}
	h.completing[id] = c
	h.completingMu.Unlock()
	return func() {
		h.completingMu.Lock()
		delete(h.completing, id)
		h.completingMu.Unlock()
		mu.Unlock()
	}
}

// completionOf returns the completion a PutObject stores, or nil for a
// PUT: gofakes3 passes a completed upload's create metadata, which carries
// multipartMarker.
func (h *hooked) completionOf(bucket, key string, meta map[string]string) *completion {
	if meta[multipartMarker] == "" {
		return nil
	}
	h.completingMu.Lock()
	defer h.completingMu.Unlock()
	if c := h.completing[completionKey(bucket, key)]; c != nil {
		return c
	}
	return &completion{} // not through the server: the body's MD5, no checksum
}

// bodyStore is the optional capability of a backend that keeps a body
// already read and hashed, and copies by sharing the source's bytes
// (s3store.Store). Without it the decorator hands bodies to PutObject, which
// reads and hashes them again.
type bodyStore interface {
	PutBytesETag(bucket, key string, meta map[string]string, body, hash []byte, etag string, cond *gofakes3.PutConditions) (s3store.Written, error)
	Copy(in s3store.CopyInput) (s3store.Written, error)
}

var _ bodyStore = (*s3store.Store)(nil)

// hookedVersioned is hooked plus the inner VersionedBackend. gofakes3 finds
// versioning by type assertion, so a decorator that embeds only Backend
// would silently turn it off.
type hookedVersioned struct {
	*hooked
	versioned gofakes3.VersionedBackend
}

var (
	_ gofakes3.Backend          = (*hooked)(nil)
	_ gofakes3.Backend          = (*hookedVersioned)(nil)
	_ gofakes3.VersionedBackend = (*hookedVersioned)(nil)
)

// wrapBackend returns the decorator, versioned when inner is.
func wrapBackend(inner gofakes3.Backend, notify Notify, now func() time.Time) (*hooked, gofakes3.Backend) {
	h := &hooked{inner: inner, notify: notify, now: now}
	h.bodies, _ = inner.(bodyStore)
	if v, ok := inner.(gofakes3.VersionedBackend); ok {
		return h, &hookedVersioned{hooked: h, versioned: v}
	}
	return h, h
}

func (h *hooked) lockKey(bucket, key string) *sync.Mutex {
	f := fnv.New32a()
	_, _ = f.Write([]byte(bucket))
	_, _ = f.Write([]byte{0})
	_, _ = f.Write([]byte(key))
	return &h.locks[f.Sum32()%uint32(len(h.locks))]
}

func (h *hooked) emit(w s3event.Write) {
	if h.notify != nil {
		w.Time = h.now()
		h.notify(w)
	}
}

func (h *hooked) ListBuckets() ([]gofakes3.BucketInfo, error) { return h.inner.ListBuckets() }
func (h *hooked) ListBucket(name string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	return h.inner.ListBucket(name, prefix, page)
}
func (h *hooked) CreateBucket(name string) error                   { return h.inner.CreateBucket(name) }
func (h *hooked) BucketExists(name string) (bool, error)           { return h.inner.BucketExists(name) }
func (h *hooked) DeleteBucket(name string) error                   { return h.inner.DeleteBucket(name) }
func (h *hooked) ForceDeleteBucket(name string) error              { return h.inner.ForceDeleteBucket(name) }
func (h *hooked) HeadObject(b, k string) (*gofakes3.Object, error) { return h.inner.HeadObject(b, k) }
func (h *hooked) GetObject(b, k string, r *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	return h.inner.GetObject(b, k, r)
}

// PutObject implements gofakes3.Backend; gofakes3 calls it for PUT. The
// body is read before the key lock is taken, so a slow client never blocks
// other writers of the key.
func (h *hooked) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	body, err := gofakes3.ReadAll(input, size)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	w := write{eventName: s3event.ObjectCreatedPut, bucket: bucket, key: key, body: body, cond: cond}
	if c := h.completionOf(bucket, key, meta); c != nil {
		w.eventName, w.meta, w.etag = s3event.ObjectCreatedCompleteMultipart, c.metadata(meta, body), c.etag
	} else {
		w.meta = withChecksums(meta, body)
		if t, ok := h.pending.Load(meta[putIDHeader]); ok {
			w.echo = t.(*checksumTee)
		}
	}
	res, err := h.putBytes(w)
	return gofakes3.PutObjectResult{VersionID: res.VersionID}, err
}

// write is one object write through the decorator.
type write struct {
	eventName, bucket, key string
	meta                   map[string]string
	body                   []byte
	hash                   []byte // MD5 of body when known; nil: computed once here
	etag                   string // the ETag when not hex(hash): a multipart upload's, without quotes
	cond                   *gofakes3.PutConditions
	requestID              string
	echo                   *checksumTee // a PUT's: gets the default checksum when one is added
}

// md5Of is a single-part object's ETag as bytes.
func md5Of(body []byte) []byte {
	sum := md5.Sum(body)
	return sum[:]
}

// readObject reads obj's contents whole, in one buffer of its size, and
// closes them.
func readObject(obj *gofakes3.Object) ([]byte, error) {
	defer obj.Contents.Close()
	body := make([]byte, obj.Size)
	if _, err := io.ReadFull(obj.Contents, body); err != nil {
		return nil, err
	}
	return body, nil
}

// putBytes stores a body already in memory and emits w.eventName.
func (h *hooked) putBytes(w write) (s3store.Written, error) {
	if w.hash == nil {
		w.hash = md5Of(w.body)
	}
	var sum string
	w.meta, sum = withDefaultChecksum(storedMetadata(w.meta), w.body)
	if w.echo != nil {
		w.echo.stored = sum
	}
	mu := h.lockKey(w.bucket, w.key)
	mu.Lock()
	defer mu.Unlock()
	var res s3store.Written
	if h.bodies != nil {
		var err error
		if res, err = h.bodies.PutBytesETag(w.bucket, w.key, w.meta, w.body, w.hash, w.etag, w.cond); err != nil {
			return res, err
		}
	} else {
		put, err := h.inner.PutObject(w.bucket, w.key, w.meta, bytes.NewReader(w.body), int64(len(w.body)), w.cond)
		if err != nil {
			return res, err
		}
		// A backend other than s3store keeps no ETag of its own: only the
		// event and the response carry the multipart one.
		res = s3store.Written{VersionID: put.VersionID, Hash: w.hash, ETagOverride: w.etag, Size: int64(len(w.body)), LastModified: h.now()}
	}
	h.emitCreated(w.eventName, w.bucket, w.key, w.requestID, res)
	return res, nil
}

func (h *hooked) emitCreated(eventName, bucket, key, requestID string, res s3store.Written) {
	h.emit(s3event.Write{EventName: eventName, Bucket: bucket, Key: key, Size: res.Size,
		ETag: res.ETag(), VersionID: string(res.VersionID), RequestID: requestID})
}

// copyObject copies in.SrcKey (at in.SrcVersionID when set) and emits a
// Copy. The IfMatch check and the bytes copied belong to one version: the
// store reads both from one immutable version; the fallback holds the
// source key's lock while it reads.
func (h *hooked) copyObject(in s3store.CopyInput) (s3store.Written, error) {
	if in.Meta = storedMetadata(in.Meta); in.Meta != nil {
		// A copy that replaces the metadata keeps the object's checksum.
		for _, k := range checksumMetaKeys {
			delete(in.Meta, k)
		}
		in.Keep = checksumMetaKeys
	}
	if h.bodies == nil {
		return h.copyByReading(in)
	}
	mu := h.lockKey(in.DstBucket, in.DstKey)
	mu.Lock()
	defer mu.Unlock()
	res, err := h.bodies.Copy(in)
	if err != nil {
		return res, err
	}
	h.emitCreated(s3event.ObjectCreatedCopy, in.DstBucket, in.DstKey, "", res)
	return res, nil
}

func (h *hooked) copyByReading(in s3store.CopyInput) (s3store.Written, error) {
	mu := h.lockKey(in.SrcBucket, in.SrcKey)
	mu.Lock()
	obj, err := h.getVersion(in.SrcBucket, in.SrcKey, in.SrcVersionID)
	if err != nil {
		mu.Unlock()
		return s3store.Written{}, err
	}
	if in.IfMatch != "" && s3store.ObjectETag(obj) != in.IfMatch {
		obj.Contents.Close()
		mu.Unlock()
		return s3store.Written{}, gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "The source ETag does not match")
	}
	body, err := readObject(obj)
	mu.Unlock()
	if err != nil {
		return s3store.Written{}, err
	}
	meta := in.Meta
	if meta == nil {
		meta = obj.Metadata
	}
	for _, k := range in.Keep {
		if v, ok := obj.Metadata[k]; ok {
			meta[k] = v
		}
	}
	if in.Checksum != nil {
		meta = s3store.WithChecksums(meta, in.Checksum(body))
	}
	return h.putBytes(write{eventName: s3event.ObjectCreatedCopy, bucket: in.DstBucket, key: in.DstKey, meta: meta, body: body, hash: obj.Hash})
}

func (h *hooked) getVersion(bucket, key string, id gofakes3.VersionID) (*gofakes3.Object, error) {
	if id == "" {
		return h.inner.GetObject(bucket, key, nil)
	}
	vb, ok := h.inner.(gofakes3.VersionedBackend)
	if !ok {
		return nil, gofakes3.ErrNoSuchVersion
	}
	return vb.GetObjectVersion(bucket, key, id, nil)
}

// DeleteObject implements gofakes3.Backend.
func (h *hooked) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	mu := h.lockKey(bucket, key)
	mu.Lock()
	defer mu.Unlock()
	_, err := h.inner.HeadObject(bucket, key)
	return h.deleteKnownLocked(bucket, key, err == nil)
}

// deleteKnownLocked deletes key's current object; existed tells whether
// there was one, which decides the event.
func (h *hooked) deleteKnownLocked(bucket, key string, existed bool) (gofakes3.ObjectDeleteResult, error) {
	res, err := h.inner.DeleteObject(bucket, key)
	if err != nil {
		return res, err
	}
	switch {
	case res.IsDeleteMarker:
		h.emit(s3event.Write{EventName: s3event.ObjectRemovedDeleteMarkerCreated, Bucket: bucket, Key: key, VersionID: string(res.VersionID)})
	case existed:
		h.emit(s3event.Write{EventName: s3event.ObjectRemovedDelete, Bucket: bucket, Key: key, VersionID: string(res.VersionID)})
	}
	return res, nil
}

// DeleteMulti implements gofakes3.Backend, one event per deleted key.
func (h *hooked) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	var out gofakes3.MultiDeleteResult
	for _, k := range keys {
		if _, err := h.DeleteObject(bucket, k); err != nil {
			out.Error = append(out.Error, gofakes3.ErrorResultFromError(err))
			continue
		}
		out.Deleted = append(out.Deleted, gofakes3.ObjectID{Key: k})
	}
	return out, nil
}

// CopyObject implements gofakes3.Backend.
func (h *hooked) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	res, err := h.copyObject(s3store.CopyInput{SrcBucket: srcBucket, SrcKey: srcKey, DstBucket: dstBucket, DstKey: dstKey, Meta: meta})
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	return gofakes3.CopyObjectResult{ETag: `"` + res.ETag() + `"`, LastModified: gofakes3.NewContentTime(res.LastModified)}, nil
}

func (h *hookedVersioned) VersioningConfiguration(bucket string) (gofakes3.VersioningConfiguration, error) {
	return h.versioned.VersioningConfiguration(bucket)
}
func (h *hookedVersioned) SetVersioningConfiguration(bucket string, v gofakes3.VersioningConfiguration) error {
	return h.versioned.SetVersioningConfiguration(bucket, v)
}
func (h *hookedVersioned) GetObjectVersion(b, k string, v gofakes3.VersionID, r *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	return h.versioned.GetObjectVersion(b, k, v, r)
}
func (h *hookedVersioned) HeadObjectVersion(b, k string, v gofakes3.VersionID) (*gofakes3.Object, error) {
	return h.versioned.HeadObjectVersion(b, k, v)
}
func (h *hookedVersioned) ListBucketVersions(b string, p *gofakes3.Prefix, page *gofakes3.ListBucketVersionsPage) (*gofakes3.ListBucketVersionsResult, error) {
	return h.versioned.ListBucketVersions(b, p, page)
}

// DeleteObjectVersion permanently removes one version and emits a Delete
// when it was an object, not a delete marker.
func (h *hookedVersioned) DeleteObjectVersion(bucket, key string, v gofakes3.VersionID) (gofakes3.ObjectDeleteResult, error) {
	mu := h.lockKey(bucket, key)
	mu.Lock()
	defer mu.Unlock()
	res, err := h.versioned.DeleteObjectVersion(bucket, key, v)
	if err == nil && res.VersionID != "" && !res.IsDeleteMarker {
		h.emit(s3event.Write{EventName: s3event.ObjectRemovedDelete, Bucket: bucket, Key: key, VersionID: string(res.VersionID)})
	}
	return res, err
}

// DeleteMultiVersions implements gofakes3.VersionedBackend.
func (h *hookedVersioned) DeleteMultiVersions(bucket string, objects ...gofakes3.ObjectID) (gofakes3.MultiDeleteResult, error) {
	var out gofakes3.MultiDeleteResult
	for _, o := range objects {
		var err error
		if o.VersionID == "" {
			_, err = h.DeleteObject(bucket, o.Key)
		} else {
			_, err = h.DeleteObjectVersion(bucket, o.Key, gofakes3.VersionID(o.VersionID))
		}
		if err != nil {
			out.Error = append(out.Error, gofakes3.ErrorResultFromError(err))
			continue
		}
		out.Deleted = append(out.Deleted, o)
	}
	return out, nil
}
