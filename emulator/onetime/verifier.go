package onetime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Decision is one verifier verdict on one event record.
type Decision struct {
	Key        string    `json:"key"`
	Bucket     string    `json:"bucket"`
	Decision   string    `json:"decision"` // "accepted" or "rejected"
	Reason     Reason    `json:"reason"`
	Detail     string    `json:"detail,omitempty"`
	ETag       string    `json:"eTag"`
	VersionID  string    `json:"versionId"`
	Sequencer  string    `json:"sequencer"`
	Size       int64     `json:"size"`
	EventName  string    `json:"eventName"`
	EventTime  time.Time `json:"eventTime"`
	Time       time.Time `json:"time"`
	Strategy   string    `json:"strategy"`
	Redelivery bool      `json:"redelivery,omitempty"`
	// Retryable marks a fail-closed rejection after an infrastructure error;
	// the invoker retries the event, so a later decision may follow.
	Retryable bool `json:"retryable,omitempty"`
}

// Decision values.
const (
	Accepted = "accepted"
	Rejected = "rejected"
)

// Verifier is the S3-notification handler: it runs the guard on each
// ObjectCreated record and moves accepted uploads to accepted/.
type Verifier struct {
	Strategy Strategy
	Objects  Objects
	Clock    Clock
	Prefix   string // DefaultPrefix when empty
	// AcceptedPrefix is where accepted uploads are copied; AcceptedPrefix
	// (the package constant) when empty.
	AcceptedPrefix string
	// Record, when set, is called with every decision.
	Record func(Decision)
	// KeepRejected leaves rejected uploads in place, as the reference does;
	// by default they are deleted (only the rejected version or ETag).
	KeepRejected bool
}

// Handle is a Lambda handler for S3 events. It returns an error when a
// record could not be decided for an infrastructure reason, so that the
// invoker retries; the record was then rejected (fail closed).
func (v *Verifier) Handle(ctx context.Context, ev events.S3Event) error {
	var errs []error
	for _, rec := range ev.Records {
		if err := v.handleRecord(ctx, rec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (v *Verifier) handleRecord(ctx context.Context, rec events.S3EventRecord) error {
	prefix := v.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	u, err := uploadOf(rec)
	if err != nil {
		return err
	}
	d := Decision{Key: u.Key, Bucket: u.Bucket, ETag: u.ETag, VersionID: u.VersionID, Sequencer: u.Sequencer,
		Size: u.Size, EventName: u.EventName, EventTime: u.EventTime, Strategy: v.Strategy.Name()}
	if !strings.HasPrefix(rec.EventName, "ObjectCreated:") || !strings.HasPrefix(u.Key, prefix) {
		// The notification filter is ObjectCreated on uploads/; anything
		// else is not ours to judge and is ignored without a decision.
		return nil
	}

	verdict, err := v.Strategy.Claim(ctx, u)
	if err != nil {
		v.record(d, Rejected, ReasonInfrastructure, err.Error(), true)
		return fmt.Errorf("claim %s: %w", u.Key, err)
	}
	d.Redelivery = verdict.Redelivery
	if !verdict.Accept {
		detail := ""
		if !v.KeepRejected {
			detail = v.removeRejected(ctx, u)
		}
		v.record(d, Rejected, verdict.Reason, detail, false)
		return nil
	}

	out, err := v.acceptOrPass(ctx, u, verdict)
	if err != nil {
		v.record(d, Rejected, ReasonInfrastructure, err.Error(), true)
		return fmt.Errorf("accept %s: %w", u.Key, err)
	}
	if !out.Accept {
		v.record(d, Rejected, out.Reason, out.detail, false)
		return nil
	}
	// An accept names the bytes it copied: after a passed claim, those of
	// the upload that replaced the event's.
	d.ETag = cmp.Or(out.IfMatch, d.ETag)
	d.Redelivery = d.Redelivery || out.Redelivery
	v.record(d, Accepted, out.Reason, "", false)
	return nil
}

// uploadOf reads the upload an event record announces.
func uploadOf(rec events.S3EventRecord) (Upload, error) {
	key := rec.S3.Object.URLDecodedKey
	if key == "" {
		k, err := url.QueryUnescape(rec.S3.Object.Key)
		if err != nil {
			return Upload{}, fmt.Errorf("event key %q: %w", rec.S3.Object.Key, err)
		}
		key = k
	}
	return Upload{
		Bucket: rec.S3.Bucket.Name, Key: key, Size: rec.S3.Object.Size,
		ETag: strings.Trim(rec.S3.Object.ETag, `"`), VersionID: rec.S3.Object.VersionID,
		Sequencer: rec.S3.Object.Sequencer, EventName: rec.EventName, EventTime: rec.EventTime,
	}, nil
}

// maxClaimPasses bounds how often one event passes its claim on: each pass
// needs another write to the key, which only the URL's holder can make
// before the URL expires.
const maxClaimPasses = 8

// outcome is a verdict after the copy, with a note for a rejection.
type outcome struct {
	Verdict
	detail string
}

// acceptOrPass copies the accepted upload. When its bytes were overwritten
// before the copy, a strategy that can pass its claim on (ClaimPasser) gives
// it to the bytes now under the key and copies those, so the URL still gets
// one accept; other strategies, and a key that keeps changing, reject the
// event as overwritten (fail closed: never accept bytes no claim names).
func (v *Verifier) acceptOrPass(ctx context.Context, u Upload, verdict Verdict) (outcome, error) {
	passer, canPass := v.Strategy.(ClaimPasser)
	for passes := 0; ; passes++ {
		err := v.accept(ctx, u, verdict)
		if err == nil {
			return outcome{Verdict: verdict}, nil
		}
		if !errors.Is(err, ErrPreconditionFailed) {
			return outcome{}, err
		}
		if !canPass || passes == maxClaimPasses {
			// The bytes this event announced were replaced before the copy;
			// accepting the newer bytes would accept the wrong upload.
			return outcome{Verdict: Verdict{Reason: ReasonOverwritten}, detail: err.Error()}, nil
		}
		var cur *ObjectInfo
		info, herr := v.Objects.Head(ctx, u.Bucket, u.Key)
		switch {
		case herr == nil:
			cur = &info
		case !errors.Is(herr, ErrNoSuchKey):
			return outcome{}, fmt.Errorf("head %s after an overwritten copy: %w", u.Key, herr)
		}
		redelivery := verdict.Redelivery
		if verdict, err = passer.PassClaim(ctx, u, cur); err != nil {
			return outcome{}, fmt.Errorf("pass claim: %w", err)
		}
		verdict.Redelivery = verdict.Redelivery || redelivery
		if !verdict.Accept {
			return outcome{Verdict: verdict, detail: "the claimed upload was overwritten before its copy"}, nil
		}
	}
}

// removeRejected deletes a rejected upload when that cannot hurt a winner.
// A version is always safe to delete. In an unversioned bucket every write
// of a URL shares one object, and duplicates often carry the same bytes and
// so the same ETag: deleting before the winner's copy exists would take the
// winner's object away. Then the upload is left for the winner's accept,
// which deletes it after copying. It returns a note for the decision.
func (v *Verifier) removeRejected(ctx context.Context, u Upload) string {
	in := DeleteInput{Bucket: u.Bucket, Key: u.Key, VersionID: u.VersionID}
	if u.VersionID == "" {
		if _, err := v.Objects.Head(ctx, u.Bucket, v.acceptedKey(u.Key)); err != nil {
			return "left in place: no accepted copy exists yet, so the object may be the winner's"
		}
		in.IfMatch = u.ETag
	}
	if err := v.Objects.Delete(ctx, in); err != nil && !errors.Is(err, ErrPreconditionFailed) {
		return "delete of the rejected upload failed: " + err.Error()
	}
	return ""
}

func (v *Verifier) acceptedKey(key string) string {
	prefix := v.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	accepted := v.AcceptedPrefix
	if accepted == "" {
		accepted = AcceptedPrefix
	}
	return accepted + strings.TrimPrefix(key, prefix)
}

// accept copies the upload to accepted/<name> and removes it from uploads/.
// verdict.IfMatch, when set, names the bytes to copy.
func (v *Verifier) accept(ctx context.Context, u Upload, verdict Verdict) error {
	dst := v.acceptedKey(u.Key)
	etag := cmp.Or(verdict.IfMatch, u.ETag)
	src := CopyInput{Bucket: u.Bucket, SrcKey: u.Key, SrcVersionID: verdict.CopyVersionID, DstKey: dst, IfMatch: verdict.IfMatch}
	err := v.Objects.Copy(ctx, src)
	if errors.Is(err, ErrNoSuchKey) {
		// A redelivery (or a retry after a partial accept) finds the source
		// already moved: done, if accepted/ holds this upload's bytes.
		info, herr := v.Objects.Head(ctx, u.Bucket, dst)
		if herr == nil && (etag == "" || info.ETag == etag) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if verdict.KeepSource {
		return nil
	}
	del := DeleteInput{Bucket: u.Bucket, Key: u.Key}
	if verdict.CopyVersionID == "" {
		del.IfMatch = etag
	}
	if err := v.Objects.Delete(ctx, del); err != nil && !errors.Is(err, ErrPreconditionFailed) {
		return fmt.Errorf("delete %s after copy: %w", u.Key, err)
	}
	return nil
}

func (v *Verifier) record(d Decision, decision string, reason Reason, detail string, retryable bool) {
	d.Decision, d.Reason, d.Detail, d.Retryable = decision, reason, detail, retryable
	d.Time = v.Clock.Now()
	if v.Record != nil {
		v.Record(d)
	}
}
