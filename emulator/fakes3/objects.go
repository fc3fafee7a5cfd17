package fakes3

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/johannesboyne/gofakes3"

	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3event"
)

// Objects returns an in-process onetime.Objects on this server's store. Its
// writes go through the event hooks like any other, and its conditional
// operations hold the key's lock, so they are atomic as S3's are.
func (s *Server) Objects() onetime.Objects { return objects{s} }

type objects struct{ s *Server }

var (
	_ onetime.Objects       = objects{}
	_ onetime.VersionLister = objects{}
)

func (o objects) Copy(_ context.Context, in onetime.CopyInput) error {
	h := o.s.hooked
	o.s.stats.Copy.Add(1)
	mu := h.lockKey(in.Bucket, in.SrcKey)
	mu.Lock()
	obj, err := o.get(in.Bucket, in.SrcKey, in.SrcVersionID)
	if err != nil {
		mu.Unlock()
		return err
	}
	etag := hex.EncodeToString(obj.Hash)
	if in.IfMatch != "" && etag != strings.Trim(in.IfMatch, `"`) {
		obj.Contents.Close()
		mu.Unlock()
		return fmt.Errorf("copy %s: source ETag %s, want %s: %w", in.SrcKey, etag, in.IfMatch, onetime.ErrPreconditionFailed)
	}
	body, err := readObject(obj)
	mu.Unlock()
	if err != nil {
		return fmt.Errorf("copy %s: read source: %w", in.SrcKey, err)
	}
	// A copy keeps its source's ETag (single-part objects: the MD5).
	_, err = h.putBytes(s3event.ObjectCreatedCopy, in.Bucket, in.DstKey, obj.Metadata, body, etag, nil, "")
	return err
}

func (o objects) get(bucket, key, version string) (*gofakes3.Object, error) {
	var obj *gofakes3.Object
	var err error
	if version != "" {
		vb, ok := o.s.backend.(gofakes3.VersionedBackend)
		if !ok {
			return nil, fmt.Errorf("get %s version %s: bucket store is not versioned", key, version)
		}
		obj, err = vb.GetObjectVersion(bucket, key, gofakes3.VersionID(version), nil)
	} else {
		obj, err = o.s.hooked.inner.GetObject(bucket, key, nil)
	}
	if err != nil {
		if gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) || gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchVersion) {
			return nil, fmt.Errorf("%s: %w", key, onetime.ErrNoSuchKey)
		}
		return nil, err
	}
	if obj.IsDeleteMarker {
		obj.Contents.Close()
		return nil, fmt.Errorf("%s: delete marker: %w", key, onetime.ErrNoSuchKey)
	}
	return obj, nil
}

func (o objects) Delete(_ context.Context, in onetime.DeleteInput) error {
	h := o.s.hooked
	o.s.stats.Delete.Add(1)
	mu := h.lockKey(in.Bucket, in.Key)
	mu.Lock()
	defer mu.Unlock()
	if in.VersionID != "" {
		vb, ok := o.s.backend.(*hookedVersioned)
		if !ok {
			return fmt.Errorf("delete %s version %s: bucket store is not versioned", in.Key, in.VersionID)
		}
		_, err := vb.deleteVersionLocked(in.Bucket, in.Key, gofakes3.VersionID(in.VersionID))
		return err
	}
	if in.IfMatch == "" {
		_, err := h.deleteLocked(in.Bucket, in.Key)
		return err
	}
	obj, err := h.inner.HeadObject(in.Bucket, in.Key)
	if err != nil {
		return nil // nothing there: nothing to delete
	}
	obj.Contents.Close()
	if hex.EncodeToString(obj.Hash) != strings.Trim(in.IfMatch, `"`) {
		return fmt.Errorf("delete %s: ETag %x, want %s: %w", in.Key, obj.Hash, in.IfMatch, onetime.ErrPreconditionFailed)
	}
	_, err = h.deleteKnownLocked(in.Bucket, in.Key, true)
	return err
}

func (o objects) Head(_ context.Context, bucket, key string) (onetime.ObjectInfo, error) {
	o.s.stats.Head.Add(1)
	obj, err := o.s.hooked.inner.HeadObject(bucket, key)
	if err != nil {
		if gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
			return onetime.ObjectInfo{}, fmt.Errorf("%s: %w", key, onetime.ErrNoSuchKey)
		}
		return onetime.ObjectInfo{}, err
	}
	obj.Contents.Close()
	return onetime.ObjectInfo{Key: key, ETag: hex.EncodeToString(obj.Hash), VersionID: string(obj.VersionID), Size: obj.Size}, nil
}

func (o objects) Versions(_ context.Context, bucket, key string) ([]onetime.ObjectInfo, error) {
	o.s.stats.List.Add(1)
	if _, ok := o.s.backend.(gofakes3.VersionedBackend); !ok {
		return nil, fmt.Errorf("list versions of %s: bucket store is not versioned", key)
	}
	// Under the key's lock: a write in progress must not be listed before
	// its place in the version order is known.
	mu := o.s.hooked.lockKey(bucket, key)
	mu.Lock()
	vs := o.s.hooked.objectVersions(bucket, key)
	mu.Unlock()
	out := make([]onetime.ObjectInfo, len(vs))
	for i, v := range vs {
		out[i] = onetime.ObjectInfo{Key: key, ETag: v.etag, VersionID: v.id, Size: v.size}
	}
	return out, nil
}
