package fakes3

import (
	"errors"
	"fmt"
	"strings"

	"github.com/johannesboyne/gofakes3"

	"github.com/uploadonce/uploadonce/emulator/s3store"
)

// The in-process object API: what a caller in the same process (the
// emulator's verifier) does to the store without HTTP. Writes go through
// the event hooks like any other, and conditional operations are atomic as
// S3's are. Each call counts as one S3 request in Stats.

// Errors of the in-process API (wrapped).
var (
	ErrNoSuchKey          = errors.New("no such key")
	ErrPreconditionFailed = errors.New("precondition failed")
	ErrNotVersioned       = errors.New("bucket is not versioned")
)

// ObjectInfo describes an object or one of its versions.
type ObjectInfo struct {
	Key       string
	ETag      string // without quotes: the hex MD5, or a multipart upload's md5-N
	VersionID string
	Size      int64
}

// CopyInput names a copy within one bucket.
type CopyInput struct {
	// SrcVersionID selects a version of SrcKey; empty means the current one.
	// IfMatch, when set, is the ETag the source must have.
	Bucket, SrcKey, SrcVersionID, DstKey, IfMatch string
}

// DeleteInput names a delete.
type DeleteInput struct {
	// VersionID removes that version; IfMatch removes the current object
	// only when it has that ETag.
	Bucket, Key, VersionID, IfMatch string
}

// Copy copies in.SrcKey to in.DstKey: ErrNoSuchKey when the source (or its
// version) is missing, ErrPreconditionFailed when IfMatch fails.
func (s *Server) Copy(in CopyInput) error {
	s.stats.Copy.Add(1)
	_, err := s.hooked.copyObject(s3store.CopyInput{SrcBucket: in.Bucket, SrcKey: in.SrcKey, SrcVersionID: gofakes3.VersionID(in.SrcVersionID),
		DstBucket: in.Bucket, DstKey: in.DstKey, IfMatch: strings.Trim(in.IfMatch, `"`)})
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", in.SrcKey, in.DstKey, mapError(err))
	}
	return nil
}

// Delete deletes in.Key, or one version of it. Deleting what is not there
// succeeds, as in S3.
func (s *Server) Delete(in DeleteInput) error {
	s.stats.Delete.Add(1)
	if in.VersionID != "" {
		vb, ok := s.backend.(*hookedVersioned)
		if !ok {
			return fmt.Errorf("delete %s version %s: %w", in.Key, in.VersionID, ErrNotVersioned)
		}
		_, err := vb.DeleteObjectVersion(in.Bucket, in.Key, gofakes3.VersionID(in.VersionID))
		return mapError(err)
	}
	h := s.hooked
	mu := h.lockKey(in.Bucket, in.Key)
	mu.Lock()
	defer mu.Unlock()
	obj, err := h.inner.HeadObject(in.Bucket, in.Key)
	if err != nil {
		if gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
			err = nil // nothing there: nothing to delete, but a marker on a versioned bucket
			if in.IfMatch != "" {
				return nil
			}
			_, err = h.deleteKnownLocked(in.Bucket, in.Key, false)
		}
		return mapError(err)
	}
	obj.Contents.Close()
	if etag := s3store.ObjectETag(obj); in.IfMatch != "" && etag != strings.Trim(in.IfMatch, `"`) {
		return fmt.Errorf("delete %s: ETag %s, want %s: %w", in.Key, etag, in.IfMatch, ErrPreconditionFailed)
	}
	_, err = h.deleteKnownLocked(in.Bucket, in.Key, true)
	return mapError(err)
}

// Head describes key's current object, or fails with ErrNoSuchKey.
func (s *Server) Head(bucket, key string) (ObjectInfo, error) {
	s.stats.Head.Add(1)
	obj, err := s.hooked.inner.HeadObject(bucket, key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("head %s: %w", key, mapError(err))
	}
	obj.Contents.Close()
	return ObjectInfo{Key: key, ETag: s3store.ObjectETag(obj), VersionID: string(obj.VersionID), Size: obj.Size}, nil
}

// Versions returns exactly key's versions, oldest first, without delete
// markers and without walking the bucket.
func (s *Server) Versions(bucket, key string) ([]ObjectInfo, error) {
	s.stats.List.Add(1)
	if _, ok := s.backend.(gofakes3.VersionedBackend); !ok {
		return nil, fmt.Errorf("list versions of %s: %w", key, ErrNotVersioned)
	}
	vs, err := s.store.KeyVersions(bucket, key)
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", key, mapError(err))
	}
	out := make([]ObjectInfo, 0, len(vs))
	for _, v := range vs {
		if !v.DeleteMarker {
			out = append(out, ObjectInfo{Key: key, ETag: v.ETag, VersionID: string(v.VersionID), Size: v.Size})
		}
	}
	return out, nil
}

// mapError gives gofakes3's "not found" and "precondition" codes this
// API's errors, keeping the original in the chain.
func mapError(err error) error {
	switch {
	case err == nil:
		return nil
	case gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey), gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchVersion):
		return errors.Join(ErrNoSuchKey, err)
	case gofakes3.HasErrorCode(err, gofakes3.ErrPreconditionFailed):
		return errors.Join(ErrPreconditionFailed, err)
	}
	return err
}
