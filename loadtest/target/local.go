package target

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/fakes3"
	"github.com/uploadonce/uploadonce/emulator/issueapi"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// Local is the in-process stack: the emulator and the memcached it starts,
// on loopback.
type Local struct {
	run     *emulator.Running
	virtual *clock.Virtual

	mu      sync.Mutex
	harness metrics.S3Requests // what Cleaner's methods sent
}

var (
	_ Target     = (*Local)(nil)
	_ Observable = (*Local)(nil)
	_ Settler    = (*Local)(nil)
	_ Clocked    = (*Local)(nil)
	_ Faultable  = (*Local)(nil)
	_ Counted    = (*Local)(nil)
	_ Cleaner    = (*Local)(nil)
	_ Prober     = (*Local)(nil)
)

// LocalOptions are what a local stack needs beyond the plan's Stack.
type LocalOptions struct {
	Seed        uint64 // seeds the delivery model
	Concurrency int    // sizes the memcached client's connection pool
	Logger      zerolog.Logger
	// LogLength bounds the emulator's decision and event logs, which
	// serve only its inspection API: a run observes both.
	LogLength int
	// MemcachedOptions go to memcached.Start after the stack's own.
	MemcachedOptions []memcached.Option
	// WrapCache wraps the memcached client the strategies use.
	WrapCache func(onetime.Cache) onetime.Cache
}

// StartLocal starts the stack st on loopback.
func StartLocal(ctx context.Context, st plan.Stack, o LocalOptions) (*Local, error) {
	clk := st.Clock.NewClock()
	st.Delivery.Seed = o.Seed
	so := st.StartOptions(clk, o.Logger)
	so.Listen = "127.0.0.1:0" // loopback only
	so.Concurrency = o.Concurrency
	so.LogLength = o.LogLength
	so.MemcachedOptions = append(so.MemcachedOptions, o.MemcachedOptions...)
	so.WrapCache = o.WrapCache
	key, err := issueapi.NewAPIKey()
	if err != nil {
		return nil, err
	}
	so.APIKey = key
	run, err := emulator.Start(ctx, so)
	if err != nil {
		return nil, err
	}
	l := &Local{run: run}
	l.virtual, _ = clk.(*clock.Virtual)
	return l, nil
}

// Running returns the emulator, for tests that inspect it.
func (l *Local) Running() *emulator.Running { return l.run }

// Endpoint implements Target.
func (l *Local) Endpoint() Endpoint {
	cfg := l.run.Config()
	return Endpoint{IssueURL: l.run.URL + issueapi.Path(cfg.Stage), APIKey: cfg.APIKey, Bucket: cfg.Bucket}
}

// Describe implements Target.
func (l *Local) Describe() Description {
	cfg := l.run.Config()
	d := Description{Strategy: cfg.Strategy, MemcachedKind: "none",
		URLExpiry: orDur(cfg.URLExpiry, onetime.DefaultURLExpiry), TokenTTL: orDur(cfg.TokenTTL, onetime.DefaultTokenTTL),
		MaxEventAge: l.run.Invoker.Config().MaxEventAge}
	if mc := l.run.Memcached; mc != nil {
		d.MemcachedKind, d.MemcachedAddr = mc.Kind(), mc.Addrs()
	}
	return d
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Close implements Target.
func (l *Local) Close(ctx context.Context) error { return l.run.Close(ctx) }

// Observe implements Observable.
func (l *Local) Observe(o Observer) {
	l.run.OnDelivery(o.OnDelivery)
	l.run.OnDecision(o.OnDecision)
}

// Settle implements Settler.
func (l *Local) Settle(ctx context.Context, limit time.Duration) error {
	return l.run.Settle(ctx, limit)
}

// ErrNeedsClock: the keys still wait, and only moving the virtual clock
// (Settle) would let them finish.
var ErrNeedsClock = errors.New("in-flight work waits on the virtual clock")

// WaitKeys implements Settler with the emulator's per-key completion; it
// does not move the clock.
func (l *Local) WaitKeys(ctx context.Context, keys []string) error {
	err := l.run.WaitKeys(ctx, keys)
	if errors.Is(err, emulator.ErrNeedsClock) {
		return fmt.Errorf("%w: %w", ErrNeedsClock, err)
	}
	return err
}

// Virtual implements Clocked; nil on the real clock.
func (l *Local) Virtual() *clock.Virtual { return l.virtual }

// StepTo implements Clocked with clock.StepTo: timer by timer, each step
// after the emulator has finished what the last one started.
func (l *Local) StepTo(ctx context.Context, to time.Time) error {
	return clock.StepTo(ctx, l.virtual, to)
}

// Memcached implements Faultable; nil when the strategy keeps no tokens.
func (l *Local) Memcached() *memcached.Server { return l.run.Memcached }

// S3Requests implements Counted. The requests of Cleaner's methods are
// the harness's, not the system's: they are left out.
func (l *Local) S3Requests() metrics.S3Requests {
	l.mu.Lock()
	defer l.mu.Unlock()
	return snapshotS3(l.run.S3.Stats()).Sub(l.harness)
}

func (l *Local) countHarness(f func(*metrics.S3Requests)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.harness)
}

func snapshotS3(s *fakes3.Stats) metrics.S3Requests {
	return metrics.S3Requests{Put: s.Put.Load(), Post: s.Post.Load(), Copy: s.Copy.Load(), Get: s.Get.Load(), Head: s.Head.Load(),
		List: s.List.Load(), Delete: s.Delete.Load(), Other: s.Other.Load(), Denied: s.Denied.Load()}
}

// MemcachedStats implements Counted.
func (l *Local) MemcachedStats(ctx context.Context) (memcached.ServerStats, error) {
	if l.run.Memcached == nil {
		return memcached.ServerStats{}, nil
	}
	return memcached.ReadStats(ctx, l.run.Memcached.Addrs())
}

// ProbeCapacity implements Prober.
func (l *Local) ProbeCapacity(ctx context.Context, mix memcached.Mix) (float64, error) {
	if l.run.Memcached == nil {
		return 0, errors.New("no memcached: the strategy keeps no tokens")
	}
	return memcached.ProbeCapacity(ctx, l.run.Memcached.Addrs(), mix, memcached.ProbeOptions{})
}

// Runtime implements Counted.
func (l *Local) Runtime() Runtime {
	return Runtime{Invoker: l.run.Invoker.Stats(), Queue: l.run.Queue.Stats()}
}

// AcceptedETag implements Cleaner.
func (l *Local) AcceptedETag(ctx context.Context, key string) string {
	info, err := l.run.Objects().Head(ctx, l.run.Config().Bucket, AcceptedName(key))
	l.countHarness(func(r *metrics.S3Requests) { r.Head++ })
	if err != nil {
		return ""
	}
	return strings.Trim(info.ETag, `"`)
}

// AcceptedName returns accepted/<name> for uploads/<name>.
func AcceptedName(key string) string {
	return onetime.AcceptedPrefix + strings.TrimPrefix(key, onetime.DefaultPrefix)
}

// Remove implements Cleaner: in a versioned bucket it deletes every
// version, oldest first, so that the current one goes last.
func (l *Local) Remove(ctx context.Context, key string) {
	bucket := l.run.Config().Bucket
	objs := l.run.Objects()
	lister, versioned := objs.(onetime.VersionLister)
	versioned = versioned && l.run.Config().Strategy == onetime.Versioning
	log := l.run.Config().Logger
	for _, k := range []string{key, AcceptedName(key)} {
		if !versioned {
			err := objs.Delete(ctx, onetime.DeleteInput{Bucket: bucket, Key: k})
			l.countHarness(func(r *metrics.S3Requests) { r.Delete++ })
			if err != nil {
				log.Debug().Err(err).Str("key", k).Msg("removing a finished object")
			}
			continue
		}
		vs, err := lister.Versions(ctx, bucket, k)
		l.countHarness(func(r *metrics.S3Requests) { r.List++ })
		if err != nil {
			log.Debug().Err(err).Str("key", k).Msg("listing a finished object's versions")
			continue
		}
		for _, v := range vs {
			err := objs.Delete(ctx, onetime.DeleteInput{Bucket: bucket, Key: k, VersionID: v.VersionID})
			l.countHarness(func(r *metrics.S3Requests) { r.Delete++ })
			if err != nil {
				log.Debug().Err(err).Str("key", k).Msg("removing a finished version")
			}
		}
	}
}

// String names the target in logs.
func (l *Local) String() string { return fmt.Sprintf("in-process stack at %s", l.run.URL) }
