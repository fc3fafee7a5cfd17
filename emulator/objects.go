package emulator

import (
	"context"
	"errors"

	"github.com/uploadonce/uploadonce/emulator/fakes3"
	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// objects is the in-process onetime.Objects: the fake S3's object API
// without HTTP, with its errors given onetime's meaning.
type objects struct{ s3 *fakes3.Server }

var (
	_ onetime.Objects       = objects{}
	_ onetime.VersionLister = objects{}
)

// Objects returns the in-process onetime.Objects on the emulator's S3.
func (e *Emulator) Objects() onetime.Objects { return objects{e.S3} }

func (o objects) Copy(_ context.Context, in onetime.CopyInput) error {
	return mapObjectsError(o.s3.Copy(fakes3.CopyInput(in)))
}

func (o objects) Delete(_ context.Context, in onetime.DeleteInput) error {
	return mapObjectsError(o.s3.Delete(fakes3.DeleteInput(in)))
}

func (o objects) Head(_ context.Context, bucket, key string) (onetime.ObjectInfo, error) {
	info, err := o.s3.Head(bucket, key)
	return onetime.ObjectInfo(info), mapObjectsError(err)
}

func (o objects) Versions(_ context.Context, bucket, key string) ([]onetime.ObjectInfo, error) {
	vs, err := o.s3.Versions(bucket, key)
	if err != nil {
		return nil, mapObjectsError(err)
	}
	out := make([]onetime.ObjectInfo, len(vs))
	for i, v := range vs {
		out[i] = onetime.ObjectInfo(v)
	}
	return out, nil
}

func mapObjectsError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fakes3.ErrNoSuchKey):
		return errors.Join(onetime.ErrNoSuchKey, err)
	case errors.Is(err, fakes3.ErrPreconditionFailed):
		return errors.Join(onetime.ErrPreconditionFailed, err)
	}
	return err
}
