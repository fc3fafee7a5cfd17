package fakes3

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"hash/fnv"
	"io"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"

	"github.com/uploadonce/uploadonce/emulator/s3event"
)

// Notify receives one record per committed write or delete.
type Notify func(s3event.Write)

// hooked decorates a gofakes3.Backend: every committed write or delete emits
// one s3event.Write, and writes to one key are serialised so that sequencers
// follow commit order. It does not implement VersionedBackend itself; see
// wrapBackend, which keeps that capability when the inner backend has it.
type hooked struct {
	inner  gofakes3.Backend
	notify Notify
	now    func() time.Time
	locks  [256]sync.Mutex

	// versionSeq records the order in which versions were made, because
	// s3mem does not list versions newest first as S3 does, and live keeps
	// each key's versions so that listing one key does not scan the bucket
	// (s3mem's listing walks every object).
	seqMu      sync.Mutex
	seq        uint64
	versionSeq map[string]uint64        // bucket/key/versionId -> order
	live       map[string][]liveVersion // bucket/key -> versions, oldest first
}

type liveVersion struct {
	id     string
	etag   string
	size   int64
	marker bool
}

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
	h := &hooked{inner: inner, notify: notify, now: now, versionSeq: make(map[string]uint64), live: make(map[string][]liveVersion)}
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

// PutObject implements gofakes3.Backend; gofakes3 calls it for PUT.
func (h *hooked) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	res, _, err := h.put(s3event.ObjectCreatedPut, bucket, key, meta, input, size, cond, "")
	return res, err
}

// put stores and emits eventName, and returns the ETag (hex MD5). The body
// is read before the key lock is taken, so a slow client never blocks other
// writers of the key.
func (h *hooked) put(eventName, bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions, requestID string) (gofakes3.PutObjectResult, string, error) {
	body, err := gofakes3.ReadAll(input, size)
	if err != nil {
		return gofakes3.PutObjectResult{}, "", err
	}
	etag := etagOf(body)
	res, err := h.putBytes(eventName, bucket, key, meta, body, etag, cond, requestID)
	return res, etag, err
}

// etagOf is a single-part object's ETag: the hex MD5 of its bytes.
func etagOf(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
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

// putBytes is put for a body already in memory whose ETag the caller knows
// (a copy keeps its source's).
func (h *hooked) putBytes(eventName, bucket, key string, meta map[string]string, body []byte, etag string, cond *gofakes3.PutConditions, requestID string) (gofakes3.PutObjectResult, error) {
	mu := h.lockKey(bucket, key)
	mu.Lock()
	defer mu.Unlock()
	res, err := h.inner.PutObject(bucket, key, meta, bytes.NewReader(body), int64(len(body)), cond)
	if err != nil {
		return res, err
	}
	h.noteVersion(bucket, key, liveVersion{id: string(res.VersionID), etag: etag, size: int64(len(body))})
	h.emit(s3event.Write{EventName: eventName, Bucket: bucket, Key: key, Size: int64(len(body)),
		ETag: etag, VersionID: string(res.VersionID), RequestID: requestID})
	return res, nil
}

// DeleteObject implements gofakes3.Backend.
func (h *hooked) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	mu := h.lockKey(bucket, key)
	mu.Lock()
	defer mu.Unlock()
	return h.deleteLocked(bucket, key)
}

func (h *hooked) deleteLocked(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
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
	h.noteVersion(bucket, key, liveVersion{id: string(res.VersionID), marker: res.IsDeleteMarker})
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
		mu := h.lockKey(bucket, k)
		mu.Lock()
		_, err := h.deleteLocked(bucket, k)
		mu.Unlock()
		if err != nil {
			out.Error = append(out.Error, gofakes3.ErrorResultFromError(err))
			continue
		}
		out.Deleted = append(out.Deleted, gofakes3.ObjectID{Key: k})
	}
	return out, nil
}

// CopyObject implements gofakes3.Backend.
func (h *hooked) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	obj, err := h.inner.GetObject(srcBucket, srcKey, nil)
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	body, err := readObject(obj)
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	if meta == nil {
		meta = obj.Metadata
	}
	// A copy keeps its source's ETag (single-part objects: the MD5).
	etag := hex.EncodeToString(obj.Hash)
	if _, err := h.putBytes(s3event.ObjectCreatedCopy, dstBucket, dstKey, meta, body, etag, nil, ""); err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	return gofakes3.CopyObjectResult{ETag: `"` + etag + `"`, LastModified: gofakes3.NewContentTime(h.now())}, nil
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

// ListBucketVersions lists keys in order and, within a key, the newest
// version first, as S3 does.
func (h *hookedVersioned) ListBucketVersions(b string, p *gofakes3.Prefix, page *gofakes3.ListBucketVersionsPage) (*gofakes3.ListBucketVersionsResult, error) {
	res, err := h.versioned.ListBucketVersions(b, p, page)
	if err != nil || res == nil {
		return res, err
	}
	key := func(v gofakes3.VersionItem) (string, uint64) {
		k, id := versionItem(v)
		return k, h.versionOrder(b, k, string(id))
	}
	sort.SliceStable(res.Versions, func(i, j int) bool {
		ki, si := key(res.Versions[i])
		kj, sj := key(res.Versions[j])
		if ki != kj {
			return ki < kj
		}
		return si > sj
	})
	return res, nil
}

func (h *hooked) noteVersion(bucket, key string, v liveVersion) {
	if v.id == "" {
		return
	}
	h.seqMu.Lock()
	h.seq++
	h.versionSeq[bucket+"/"+key+"/"+v.id] = h.seq
	h.live[bucket+"/"+key] = append(h.live[bucket+"/"+key], v)
	h.seqMu.Unlock()
}

func (h *hooked) forgetVersion(bucket, key, version string) {
	h.seqMu.Lock()
	defer h.seqMu.Unlock()
	delete(h.versionSeq, bucket+"/"+key+"/"+version)
	vs := h.live[bucket+"/"+key]
	for i, v := range vs {
		if v.id == version {
			vs = append(vs[:i:i], vs[i+1:]...)
			break
		}
	}
	if len(vs) == 0 {
		delete(h.live, bucket+"/"+key)
	} else {
		h.live[bucket+"/"+key] = vs
	}
}

// objectVersions returns the versions (not delete markers) of key, oldest
// first.
func (h *hooked) objectVersions(bucket, key string) []liveVersion {
	h.seqMu.Lock()
	defer h.seqMu.Unlock()
	var out []liveVersion
	for _, v := range h.live[bucket+"/"+key] {
		if !v.marker {
			out = append(out, v)
		}
	}
	return out
}

// versionOrder returns when a version was made; a version not yet noted is
// being written now, so it counts as the newest.
func (h *hooked) versionOrder(bucket, key, version string) uint64 {
	h.seqMu.Lock()
	defer h.seqMu.Unlock()
	if n, ok := h.versionSeq[bucket+"/"+key+"/"+version]; ok {
		return n
	}
	return math.MaxUint64
}

// DeleteObjectVersion permanently removes one version and emits a Delete.
func (h *hookedVersioned) DeleteObjectVersion(bucket, key string, v gofakes3.VersionID) (gofakes3.ObjectDeleteResult, error) {
	mu := h.lockKey(bucket, key)
	mu.Lock()
	defer mu.Unlock()
	return h.deleteVersionLocked(bucket, key, v)
}

// deleteVersionLocked closes an s3mem gap: removing the current version
// while older ones remain leaves s3mem without a current version, and its
// next HEAD, GET or PUT of the key panics. S3 would make the previous
// version current; s3mem cannot, so a delete marker becomes current first
// (GET then answers 404 instead of serving the previous version; the
// versions themselves are intact). Removing a current delete marker while
// versions remain is refused as NotImplemented for the same reason.
func (h *hookedVersioned) deleteVersionLocked(bucket, key string, v gofakes3.VersionID) (gofakes3.ObjectDeleteResult, error) {
	// The decorator's own index, not s3mem's listing, which walks the bucket.
	target, found, latest, others := h.findVersion(bucket, key, string(v))
	if !found {
		return gofakes3.ObjectDeleteResult{}, nil // S3: deleting a missing version succeeds
	}
	if latest && others > 0 {
		if target.marker {
			return gofakes3.ObjectDeleteResult{}, gofakes3.ErrorMessage(gofakes3.ErrNotImplemented,
				"uploadonce: removing the current delete marker while older versions remain is not supported by the in-memory store")
		}
		res, err := h.inner.DeleteObject(bucket, key)
		if err != nil {
			return res, err
		}
		h.noteVersion(bucket, key, liveVersion{id: string(res.VersionID), marker: res.IsDeleteMarker})
	}
	res, err := h.versioned.DeleteObjectVersion(bucket, key, v)
	if err == nil {
		h.forgetVersion(bucket, key, string(v))
		if !target.marker {
			h.emit(s3event.Write{EventName: s3event.ObjectRemovedDelete, Bucket: bucket, Key: key, VersionID: string(v)})
		}
	}
	return res, err
}

// findVersion looks version up among key's versions and delete markers:
// whether it is the newest, and how many others there are.
func (h *hooked) findVersion(bucket, key, version string) (v liveVersion, found, latest bool, others int) {
	h.seqMu.Lock()
	defer h.seqMu.Unlock()
	vs := h.live[bucket+"/"+key]
	for i, lv := range vs {
		if lv.id == version {
			return lv, true, i == len(vs)-1, len(vs) - 1
		}
	}
	return liveVersion{}, false, false, len(vs)
}

func versionItem(it gofakes3.VersionItem) (key string, id gofakes3.VersionID) {
	switch x := it.(type) {
	case *gofakes3.Version:
		return x.Key, x.VersionID
	case *gofakes3.DeleteMarker:
		return x.Key, x.VersionID
	}
	return "", ""
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
