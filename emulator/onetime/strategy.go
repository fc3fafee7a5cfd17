package onetime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Cache is the part of a memcached client the guards use. Methods return
// gomemcache's sentinel errors: memcache.ErrCacheMiss, ErrNotStored and
// ErrCASConflict are answers; anything else is an infrastructure failure.
type Cache interface {
	Add(item *memcache.Item) error
	Get(key string) (*memcache.Item, error)
	Delete(key string) error
	CompareAndSwap(item *memcache.Item) error
}

var _ Cache = (*memcache.Client)(nil)

// Clock tells the time of the system the guard runs in.
type Clock interface {
	Now() time.Time
}

// Token is a freshly issued one-time URL, as Register sees it.
type Token struct {
	Bucket   string
	Key      string
	Issued   time.Time
	Deadline time.Time // Issued + token TTL
}

// Upload is one ObjectCreated event as the guard sees it.
type Upload struct {
	Bucket    string
	Key       string
	Size      int64
	ETag      string
	VersionID string
	Sequencer string
	EventName string
	EventTime time.Time
}

// Verdict is a guard's answer for one upload.
type Verdict struct {
	Accept bool
	Reason Reason
	// Redelivery is set when the upload is the token's recorded winner seen
	// again; the verifier then completes the accept idempotently.
	Redelivery bool
	// CopyVersionID, when set, is the version to copy to accepted/.
	CopyVersionID string
	// IfMatch, when set, makes the copy conditional on the source ETag. It
	// is the ETag of the bytes the accept copies: the event's, or, after the
	// claim was passed on (ClaimPasser), the object's now under the key.
	IfMatch string
	// KeepSource leaves the upload in uploads/ after the copy.
	KeepSource bool
}

// Reason says why a decision went the way it did.
type Reason string

// Reasons. The reference's only rejection message was "Not the first
// version"; these split it by cause so reports can attribute rejects.
const (
	ReasonFirstUse         Reason = "first-use"
	ReasonRedelivery       Reason = "redelivery-of-winner"
	ReasonOldestVersion    Reason = "oldest-version"
	ReasonTokenMissing     Reason = "token-missing"
	ReasonTokenConsumed    Reason = "token-consumed"
	ReasonTokenExpired     Reason = "token-expired"
	ReasonNotOldestVersion Reason = "not-oldest-version"
	ReasonConditionalWrite Reason = "conditional-write"
	ReasonInfrastructure   Reason = "infrastructure-error"
	ReasonOverwritten      Reason = "overwritten-before-copy"
	// ReasonClaimPassed accepts the bytes now under the key after the
	// claimed upload's bytes were overwritten before its copy.
	ReasonClaimPassed Reason = "claim-passed-on"
	// ReasonClaimReleased rejects an upload whose claim was given back
	// because its key held no object any more: a later event may claim.
	ReasonClaimReleased Reason = "claim-released"
	ReasonNotAnUpload   Reason = "not-an-upload"
)

// Strategy is a one-time guard.
//
// Register MUST make the key claimable exactly once, and Claim MUST accept at
// most one distinct upload per key, however many Claims run at once, unless
// the strategy exists to show the opposite (get-delete). An error from either
// is an infrastructure failure: the caller fails closed and retries.
type Strategy interface {
	Name() string
	Register(ctx context.Context, t Token) error
	Claim(ctx context.Context, u Upload) (Verdict, error)
}

// ClaimPasser is the optional capability of a strategy whose claim records
// the bytes it accepts, so that a URL whose claimed upload was overwritten
// before its copy still gets one accept (the liveness property, DESIGN §5).
//
// PassClaim is called by the holder of u's claim after a copy conditional
// on the claimed bytes failed. With cur set (the object now under the key)
// it MUST move the claim to cur's bytes with one atomic operation and
// answer an accept whose IfMatch is cur.ETag; u's event stays the claim's
// holder, so its redeliveries accept those bytes again and every other
// upload is still rejected. With cur nil (nothing under the key) it MUST
// give the claim back, so that a later event can take it. When u no longer
// holds the claim it answers a rejection. An error is an infrastructure
// failure, as for Claim.
type ClaimPasser interface {
	PassClaim(ctx context.Context, u Upload, cur *ObjectInfo) (Verdict, error)
}

// Strategy names.
const (
	GetDelete   = "get-delete"
	Delete      = "delete"
	CAS         = "cas"
	Versioning  = "versioning"
	IfNoneMatch = "if-none-match"
)

// StrategyInfo describes a strategy for help texts and reports.
type StrategyInfo struct {
	Name       string
	Store      string // "memcached" or "s3"
	Guarantees string
	// Liveness says whether the strategy owes every URL with an in-time
	// upload one accept (unless its token was lost or the retries ran out).
	// get-delete and delete do not: losing such URLs is the reference's
	// known weakness, which reports show without failing them.
	Liveness bool
}

// Strategies lists every strategy, in the order reports show them.
var Strategies = []StrategyInfo{
	{GetDelete, "memcached", "none under concurrency: get then delete is check-then-act (the reference, kept to show the race)", false},
	{Delete, "memcached", "at most one accept per token: the caller that gets DELETED wins; a redelivered winner is rejected", false},
	{CAS, "memcached", "exactly one accept per token: a redelivered winner is accepted again idempotently, and a winner " +
		"overwritten before its copy passes its claim to the bytes that replaced it", true},
	{Versioning, "s3", "exactly one accept per token: the oldest version wins and is copied by versionId; nothing is stored at issue time", true},
	{IfNoneMatch, "s3", "exactly one accept per token: S3 refuses every write after the first (412), so only one upload exists", true},
}

// StrategyNames returns the names in Strategies.
func StrategyNames() []string {
	names := make([]string, len(Strategies))
	for i, s := range Strategies {
		names[i] = s.Name
	}
	return names
}

// LookupStrategy returns the description of name.
func LookupStrategy(name string) (StrategyInfo, bool) {
	for _, s := range Strategies {
		if s.Name == name {
			return s, true
		}
	}
	return StrategyInfo{}, false
}

// OwesLiveness reports whether strategy name owes every URL with an in-time
// upload one accept (StrategyInfo.Liveness).
func OwesLiveness(name string) bool {
	s, ok := LookupStrategy(name)
	return ok && s.Liveness
}

// UsesMemcached reports whether the strategy keeps tokens in memcached.
func UsesMemcached(name string) bool {
	s, ok := LookupStrategy(name)
	return ok && s.Store == "memcached"
}

// NewMemcachedStrategy returns the memcached-backed strategy called name.
func NewMemcachedStrategy(name string, c Cache, clk Clock) (Strategy, error) {
	base := memcachedBase{cache: c, clock: clk}
	switch name {
	case GetDelete:
		return &getDelete{base}, nil
	case Delete:
		return &deleteFirst{base}, nil
	case CAS:
		return &casStrategy{base}, nil
	}
	names := StrategyNames()
	sort.Strings(names)
	return nil, fmt.Errorf("unknown memcached strategy %q (strategies: %v)", name, names)
}

var (
	_ Strategy    = (*getDelete)(nil)
	_ Strategy    = (*deleteFirst)(nil)
	_ Strategy    = (*casStrategy)(nil)
	_ ClaimPasser = (*casStrategy)(nil)
)

type memcachedBase struct {
	cache Cache
	clock Clock
}

// Register stores the token with add, so an existing key is never
// overwritten, and a TTL that only collects garbage.
func (b memcachedBase) Register(_ context.Context, t Token) error {
	v := tokenValue{State: stateValid, Deadline: t.Deadline}
	err := b.cache.Add(&memcache.Item{Key: t.Key, Value: v.encode(), Expiration: ttlSeconds(t.Deadline, b.clock.Now())})
	if errors.Is(err, memcache.ErrNotStored) {
		return fmt.Errorf("token %q already exists", t.Key)
	}
	if err != nil {
		return fmt.Errorf("memcached add: %w", err)
	}
	return nil
}

// read returns the token, ok=false on a miss.
func (b memcachedBase) read(key string) (*memcache.Item, tokenValue, bool, error) {
	it, err := b.cache.Get(key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, tokenValue{}, false, nil
	}
	if err != nil {
		return nil, tokenValue{}, false, fmt.Errorf("memcached get: %w", err)
	}
	v, err := decodeToken(it.Value)
	if err != nil {
		return nil, tokenValue{}, false, err
	}
	return it, v, true, nil
}

// getDelete is the reference: get, and on a hit delete and accept. Two
// concurrent runs can both see the hit before either deletes.
type getDelete struct{ memcachedBase }

func (s *getDelete) Name() string { return GetDelete }

func (s *getDelete) Claim(_ context.Context, u Upload) (Verdict, error) {
	_, v, ok, err := s.read(u.Key)
	if err != nil {
		return Verdict{}, err
	}
	if !ok {
		return Verdict{Reason: ReasonTokenMissing}, nil
	}
	if v.State != stateValid {
		return Verdict{Reason: ReasonTokenConsumed}, nil
	}
	if v.expired(s.clock.Now()) {
		return Verdict{Reason: ReasonTokenExpired}, nil
	}
	// The reference ignores delete's answer; so do we, which is the bug.
	if err := s.cache.Delete(u.Key); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		return Verdict{}, fmt.Errorf("memcached delete: %w", err)
	}
	return Verdict{Accept: true, Reason: ReasonFirstUse}, nil
}

// deleteFirst claims with one atomic delete: only one caller gets DELETED.
// The preceding get reads the deadline; it decides nothing about the winner.
type deleteFirst struct{ memcachedBase }

func (s *deleteFirst) Name() string { return Delete }

func (s *deleteFirst) Claim(_ context.Context, u Upload) (Verdict, error) {
	_, v, ok, err := s.read(u.Key)
	if err != nil {
		return Verdict{}, err
	}
	if !ok {
		return Verdict{Reason: ReasonTokenMissing}, nil
	}
	if v.expired(s.clock.Now()) {
		return Verdict{Reason: ReasonTokenExpired}, nil
	}
	err = s.cache.Delete(u.Key)
	switch {
	case err == nil:
		return Verdict{Accept: true, Reason: ReasonFirstUse}, nil
	case errors.Is(err, memcache.ErrCacheMiss):
		return Verdict{Reason: ReasonTokenConsumed}, nil
	}
	return Verdict{}, fmt.Errorf("memcached delete: %w", err)
}

// casStrategy swaps the token to a consumed marker naming the winner, so a
// redelivery of the winning event is recognised and accepted again.
type casStrategy struct{ memcachedBase }

func (s *casStrategy) Name() string { return CAS }

// maxCASRounds bounds the gets/cas loop; each lost round means another
// claim changed the token, which can happen at most once (valid→consumed).
const maxCASRounds = 4

func (s *casStrategy) Claim(_ context.Context, u Upload) (Verdict, error) {
	for range maxCASRounds {
		it, v, ok, err := s.read(u.Key)
		if err != nil {
			return Verdict{}, err
		}
		if !ok {
			return Verdict{Reason: ReasonTokenMissing}, nil
		}
		if v.State == stateConsumed {
			if v.Winner.Same(u) {
				// The winner's ETag: its own, or the bytes its claim passed to.
				return Verdict{Accept: true, Reason: ReasonRedelivery, Redelivery: true, IfMatch: v.Winner.ETag}, nil
			}
			return Verdict{Reason: ReasonTokenConsumed}, nil
		}
		now := s.clock.Now()
		if v.expired(now) {
			return Verdict{Reason: ReasonTokenExpired}, nil
		}
		consumed := tokenValue{State: stateConsumed, Deadline: v.Deadline,
			Winner: Winner{Sequencer: u.Sequencer, ETag: u.ETag, VersionID: u.VersionID}}
		if consumed.Deadline.IsZero() {
			consumed.Deadline = now.Add(time.Hour)
		}
		it.Value = consumed.encode()
		it.Expiration = ttlSeconds(consumed.Deadline, now)
		err = s.cache.CompareAndSwap(it)
		switch {
		case err == nil:
			return Verdict{Accept: true, Reason: ReasonFirstUse, IfMatch: u.ETag}, nil
		case errors.Is(err, memcache.ErrCASConflict):
			continue // someone else changed it; read again
		case errors.Is(err, memcache.ErrCacheMiss), errors.Is(err, memcache.ErrNotStored):
			return Verdict{Reason: ReasonTokenMissing}, nil
		}
		return Verdict{}, fmt.Errorf("memcached cas: %w", err)
	}
	return Verdict{}, errors.New("memcached cas: token kept changing")
}

// PassClaim implements ClaimPasser: one cas moves the consumed marker from
// u's bytes to cur's (or, with cur nil, back to valid), only while u's
// event still holds the claim.
func (s *casStrategy) PassClaim(_ context.Context, u Upload, cur *ObjectInfo) (Verdict, error) {
	for range maxCASRounds {
		it, v, ok, err := s.read(u.Key)
		if err != nil {
			return Verdict{}, err
		}
		if !ok {
			return Verdict{Reason: ReasonTokenMissing}, nil
		}
		if v.State != stateConsumed || !v.Winner.Same(u) {
			return Verdict{Reason: ReasonTokenConsumed}, nil
		}
		next := v
		switch {
		case cur == nil:
			next = tokenValue{State: stateValid, Deadline: v.Deadline}
		case v.Winner.ETag == cur.ETag:
			// Passed already, by another delivery of the same event.
			return Verdict{Accept: true, Reason: ReasonClaimPassed, Redelivery: true, IfMatch: cur.ETag}, nil
		default:
			next.Winner.ETag = cur.ETag
		}
		it.Value = next.encode()
		it.Expiration = ttlSeconds(next.Deadline, s.clock.Now())
		err = s.cache.CompareAndSwap(it)
		switch {
		case err == nil && cur == nil:
			return Verdict{Reason: ReasonClaimReleased}, nil
		case err == nil:
			return Verdict{Accept: true, Reason: ReasonClaimPassed, IfMatch: cur.ETag}, nil
		case errors.Is(err, memcache.ErrCASConflict):
			continue
		case errors.Is(err, memcache.ErrCacheMiss), errors.Is(err, memcache.ErrNotStored):
			return Verdict{Reason: ReasonTokenMissing}, nil
		}
		return Verdict{}, fmt.Errorf("memcached cas: %w", err)
	}
	return Verdict{}, errors.New("memcached cas: token kept changing")
}
