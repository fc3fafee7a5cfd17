package target

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/history"
)

// Witness is a target whose ground truth is read from what the stack left
// in S3 after the load, not watched while it runs.
type Witness interface {
	// Witness waits, bounded by ctx, until the stack has decided the
	// tokens' uploads, and attaches to each token the decisions it finds
	// and the deliveries they prove. at converts a wall time to the run's
	// ns since base.
	Witness(ctx context.Context, tokens []*history.Token, at func(time.Time) int64) GroundTruth
}

// GroundTruth says what decided a run's verdict and what it cannot decide.
type GroundTruth = history.GroundTruth

// EmulatorLog is the ground truth of a stack the run watched.
const EmulatorLog = "emulator log"

// Ground-truth limits, by property.
const (
	whyNoRejects = "the source shows accepted copies only, not the verifier's rejections"
	whyNoDouble  = "the bucket keeps no versions and the stack no decision log: a second accept overwrites accepted/<name> unseen"
	whyNoLin     = "the source has no decision times"
)

// Witness implements Witness from the decision log when there is one,
// else from the versions (or the one object) of accepted/<name>.
func (r *Remote) Witness(ctx context.Context, tokens []*history.Token, at func(time.Time) int64) GroundTruth {
	ctx, cancel := context.WithTimeout(ctx, r.o.Settle)
	defer cancel()
	gt := GroundTruth{Source: r.Source(), Unknown: map[string]string{}}
	if r.o.DecisionLogPrefix != "" {
		r.readLog(ctx, tokens, at)
		return gt
	}
	gt.EventsUnseen = true
	gt.Unknown["counts.rejected"] = whyNoRejects
	gt.Unknown["linearizable"] = whyNoLin
	if !r.versioned {
		gt.Unknown["double_accept"] = whyNoDouble
	}
	r.readAccepted(ctx, tokens, at)
	return gt
}

// pollEvery is how often the stack's decisions are looked for.
const pollEvery = 200 * time.Millisecond

// readLog reads each token's decisions under <prefix><name>/ until every
// upload S3 took has a final decision, or ctx ends.
func (r *Remote) readLog(ctx context.Context, tokens []*history.Token, at func(time.Time) int64) {
	seen := map[string]bool{}
	pending := slices.Clone(tokens)
	for {
		pending = slices.DeleteFunc(pending, func(t *history.Token) bool {
			r.readTokenLog(ctx, t, seen, at)
			return logComplete(t)
		})
		if len(pending) == 0 || !sleepCtx(ctx, pollEvery) {
			return
		}
	}
}

// logComplete reports whether every upload S3 took for t has a final
// decision: as many final decisions with its ETag (its body's MD5) as
// uploads of those bytes.
func logComplete(t *history.Token) bool {
	owed := map[string]int{}
	for _, md5 := range uploadsTaken(t) {
		owed[md5]++
	}
	for _, d := range t.Decisions {
		if !d.Retryable {
			owed[d.ETag]--
		}
	}
	for _, n := range owed {
		if n > 0 {
			return false
		}
	}
	return true
}

func (r *Remote) readTokenLog(ctx context.Context, t *history.Token, seen map[string]bool, at func(time.Time) int64) {
	if t.Key == "" {
		return
	}
	prefix := r.o.DecisionLogPrefix + strings.TrimPrefix(t.Key, onetime.DefaultPrefix) + "/"
	p := s3.NewListObjectsV2Paginator(r.s3, &s3.ListObjectsV2Input{Bucket: &r.o.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			r.o.Logger.Debug().Err(err).Str("prefix", prefix).Msg("listing the decision log")
			return
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if seen[k] {
				continue
			}
			d, err := r.getDecision(ctx, k)
			if err != nil {
				r.o.Logger.Debug().Err(err).Str("key", k).Msg("reading the decision log")
				continue
			}
			seen[k] = true
			addDecision(t, d, at)
		}
	}
	slices.SortStableFunc(t.Decisions, func(a, b history.Decision) int { return a.Time.Compare(b.Time) })
	slices.SortStableFunc(t.Deliveries, func(a, b history.Delivery) int { return int(a.At - b.At) })
}

func (r *Remote) getDecision(ctx context.Context, key string) (onetime.Decision, error) {
	out, err := r.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &r.o.Bucket, Key: &key})
	if err != nil {
		return onetime.Decision{}, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 64<<10))
	if err != nil {
		return onetime.Decision{}, err
	}
	var d onetime.Decision
	return d, json.Unmarshal(b, &d)
}

// addDecision attaches a logged decision and the delivery it proves. The
// log has no delivery time: the event's time (S3 finished the write)
// stands for it, so that the claim lies between the two.
func addDecision(t *history.Token, d onetime.Decision, at func(time.Time) int64) {
	ns := at(d.Time)
	t.Deliveries = append(t.Deliveries, history.Delivery{At: min(at(d.EventTime), ns), Sequencer: d.Sequencer, ETag: d.ETag, VersionID: d.VersionID})
	t.Decisions = append(t.Decisions, history.Decision{At: ns, Decision: d.Decision, Reason: d.Reason, Detail: d.Detail,
		ETag: d.ETag, VersionID: d.VersionID, Sequencer: d.Sequencer, EventTime: d.EventTime, Time: d.Time,
		Redelivery: d.Redelivery, Retryable: d.Retryable})
}

// Quiet periods of readAccepted: done once every token owed an accept has
// one and nothing changed for acceptedQuiet, or nothing changed at all
// for acceptedIdle.
const (
	acceptedQuiet = time.Second
	acceptedIdle  = 5 * time.Second
)

// readAccepted turns the distinct bytes of accepted/<name>'s versions (or
// its one object) into accepts, each with the delivery it proves: the
// verifier copies only on an event.
func (r *Remote) readAccepted(ctx context.Context, tokens []*history.Token, at func(time.Time) int64) {
	found := make([][]objectVersion, len(tokens))
	changed := time.Now()
	for {
		all := true
		for i, t := range tokens {
			vs := r.acceptedVersions(ctx, t)
			if len(vs) != len(found[i]) {
				found[i], changed = vs, time.Now()
			}
			all = all && (len(vs) > 0 || len(uploadsTaken(t)) == 0)
		}
		quiet := time.Since(changed)
		if (all && quiet >= acceptedQuiet) || quiet >= acceptedIdle || !sleepCtx(ctx, pollEvery) {
			break
		}
	}
	for i, t := range tokens {
		var etags []string
		for _, v := range found[i] {
			if slices.Contains(etags, v.ETag) {
				continue // the same bytes again: indistinguishable from a re-accept
			}
			etags = append(etags, v.ETag)
			ns := at(v.Modified)
			t.Deliveries = append(t.Deliveries, history.Delivery{At: ns, ETag: v.ETag, VersionID: v.ID, Sequencer: v.ETag})
			t.Decisions = append(t.Decisions, history.Decision{At: ns, Decision: onetime.Accepted, Reason: "accepted-copy",
				ETag: v.ETag, VersionID: v.ID, Sequencer: v.ETag, Time: v.Modified})
		}
	}
}

// acceptedVersions returns accepted/<name>'s versions, or its one object.
func (r *Remote) acceptedVersions(ctx context.Context, t *history.Token) []objectVersion {
	if t.Key == "" {
		return nil
	}
	if r.versioned {
		vs, err := r.versions(ctx, AcceptedName(t.Key))
		if err != nil {
			r.o.Logger.Debug().Err(err).Str("key", t.Key).Msg("listing accepted versions")
		}
		return vs
	}
	out, err := r.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &r.o.Bucket, Key: aws.String(AcceptedName(t.Key))})
	if err != nil {
		return nil
	}
	return []objectVersion{{ETag: strings.Trim(aws.ToString(out.ETag), `"`), Modified: aws.ToTime(out.LastModified)}}
}

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
