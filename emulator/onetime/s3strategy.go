package onetime

import (
	"context"
	"fmt"
)

// NewS3Strategy returns a guard that keeps no tokens: versioning or
// if-none-match. Versioning needs objects to list versions.
func NewS3Strategy(name string, objects Objects) (Strategy, error) {
	switch name {
	case Versioning:
		vl, ok := objects.(VersionLister)
		if !ok {
			return nil, fmt.Errorf("strategy %s needs an object store that lists versions", name)
		}
		return &versioning{versions: vl}, nil
	case IfNoneMatch:
		return ifNoneMatch{}, nil
	}
	return nil, fmt.Errorf("unknown S3 strategy %q", name)
}

var (
	_ Strategy = (*versioning)(nil)
	_ Strategy = ifNoneMatch{}
)

// versioning accepts the oldest version of a key, whatever order the events
// arrive in, and copies exactly that version.
type versioning struct{ versions VersionLister }

func (*versioning) Name() string { return Versioning }

// Register stores nothing: the bucket's version history is the record.
func (*versioning) Register(context.Context, Token) error { return nil }

func (s *versioning) Claim(ctx context.Context, u Upload) (Verdict, error) {
	if u.VersionID == "" {
		return Verdict{}, fmt.Errorf("event for %s carries no versionId: is the bucket versioned?", u.Key)
	}
	vs, err := s.versions.Versions(ctx, u.Bucket, u.Key)
	if err != nil {
		return Verdict{}, fmt.Errorf("list versions: %w", err)
	}
	if len(vs) == 0 {
		// The version named by the event is gone: it was rejected and
		// removed, so it was not the oldest.
		return Verdict{Reason: ReasonNotOldestVersion}, nil
	}
	if vs[0].VersionID != u.VersionID {
		return Verdict{Reason: ReasonNotOldestVersion}, nil
	}
	return Verdict{Accept: true, Reason: ReasonOldestVersion, CopyVersionID: u.VersionID}, nil
}

// ifNoneMatch relies on S3: URLs sign If-None-Match: *, so only the first
// PUT to a key succeeds and every event is the only upload. The source is
// kept after the copy, because moving it away would free the key for a
// second PUT with the same, still valid URL.
type ifNoneMatch struct{}

func (ifNoneMatch) Name() string                          { return IfNoneMatch }
func (ifNoneMatch) Register(context.Context, Token) error { return nil }

func (ifNoneMatch) Claim(_ context.Context, u Upload) (Verdict, error) {
	return Verdict{Accept: true, Reason: ReasonConditionalWrite, IfMatch: u.ETag, KeepSource: true}, nil
}
