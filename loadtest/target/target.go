// Package target is what a load run drives: a stack with an issue API and
// an S3 bucket. The engine needs only Target; what a stack can do beyond
// that (a virtual clock to step, work to wait for, a memcached to fault,
// counters to read, objects to clean up) is an optional interface, found
// by type assertion, so that a stack reached over HTTP and S3 alone, or one
// whose verifier is a separate process, can be added beside Local.
package target

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/lambda"
	"github.com/uploadonce/uploadonce/emulator/memcached"
	"github.com/uploadonce/uploadonce/emulator/onetime"
	"github.com/uploadonce/uploadonce/emulator/s3event"
	"github.com/uploadonce/uploadonce/loadtest/metrics"
)

// Endpoint is what a client needs to issue URLs.
type Endpoint struct {
	IssueURL string // e.g. http://127.0.0.1:4566/Prod/getpresignedurl
	APIKey   string
	Bucket   string
}

// Target is a running stack.
type Target interface {
	Endpoint() Endpoint
	// Describe returns the facts a report names: strategy, memcached,
	// URL expiry and token TTL in force.
	Describe() Description
	Close(ctx context.Context) error
}

// Description is what the target runs.
type Description struct {
	Strategy      string
	MemcachedKind string // "none" when the strategy keeps no tokens
	MemcachedAddr []string
	URLExpiry     time.Duration
	TokenTTL      time.Duration
	MaxEventAge   time.Duration
}

// Observer sees the stack's server-side log: every event delivery and
// every verifier decision.
type Observer interface {
	OnDelivery(events.S3EventRecord)
	OnDecision(onetime.Decision)
}

// Observable is a target whose deliveries and decisions can be watched.
type Observable interface {
	Observe(Observer)
}

// Settler is a target whose in-flight work can be waited for. Settle
// waits until nothing is in flight (on a virtual clock, moving it timer by
// timer, at most limit); WaitKeys waits until nothing is in flight for the
// keys, and returns ErrNeedsClock when only moving the clock would help.
type Settler interface {
	Settle(ctx context.Context, limit time.Duration) error
	WaitKeys(ctx context.Context, keys []string) error
}

// Clocked is a target on a virtual clock the run moves. StepTo moves it
// to a time timer by timer, letting the stack finish what each step
// started, so that retries and delayed deliveries happen at their own
// virtual times.
type Clocked interface {
	Virtual() *clock.Virtual
	StepTo(ctx context.Context, to time.Time) error
}

// Faultable is a target whose memcached faults can be injected into.
type Faultable interface {
	Memcached() *memcached.Server
}

// Counted is a target whose operation counters can be read.
type Counted interface {
	S3Requests() metrics.S3Requests
	MemcachedStats(ctx context.Context) (memcached.ServerStats, error)
	Runtime() Runtime
}

// Prober is a target whose memcached's capacity can be measured: a short
// saturation probe with a command mix, in commands per second per node.
type Prober interface {
	ProbeCapacity(ctx context.Context, mix memcached.Mix) (float64, error)
}

// Runtime is the invoker's and delivery queue's accounting of a run.
type Runtime struct {
	Invoker lambda.Stats
	Queue   s3event.Stats
}

// Cleaner is a target whose objects the run may read and remove.
type Cleaner interface {
	// AcceptedETag returns the ETag of accepted/<name> for key, or "".
	AcceptedETag(ctx context.Context, key string) string
	// Remove deletes what key left behind: the upload and accepted/<name>,
	// every version of each.
	Remove(ctx context.Context, key string)
}
