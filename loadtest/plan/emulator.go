package plan

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/emulator"
	"github.com/uploadonce/uploadonce/emulator/clock"
	"github.com/uploadonce/uploadonce/emulator/memcached"
)

// NewClock returns a clock of kind k. The virtual clock starts at the
// wall-clock second, so that presigned dates look plausible.
func (k ClockKind) NewClock() clock.Clock {
	if k == ClockReal {
		return clock.Real{}
	}
	return clock.NewVirtual(time.Now().UTC().Truncate(time.Second))
}

// StartOptions returns what emulator.Start needs to run the stack on clk.
// The caller adds what is not the stack's: listener, bucket, API key,
// credentials. Call it on a validated stack.
func (s Stack) StartOptions(clk clock.Clock, log zerolog.Logger) emulator.StartOptions {
	method, _ := s.UploadMethod()
	o := emulator.StartOptions{
		Memcached: s.Memcached.String(),
		Config: emulator.Config{
			Strategy: s.Strategy, Method: method, URLExpiry: s.URLExpiry, TokenTTL: s.TokenTTL,
			KeepRejected: s.KeepRejected, Clock: clk, Delivery: s.Delivery, Lambda: s.LambdaConfig(),
			FunctionErrorRate: s.LambdaErrorRate, Logger: log,
			VerifyFunction: s.Functions.Verify, IssueFunction: s.Functions.Issue,
			FunctionEnv: s.Functions.Env, FunctionTimeout: s.Functions.Timeout,
		},
	}
	o.MemcachedHashing, o.VerifierMemcachedHashing = s.MemcachedHashing, s.VerifierMemcachedHashing
	if s.MemcachedMemoryMB > 0 {
		o.MemcachedOptions = append(o.MemcachedOptions, memcached.WithMemoryMB(s.MemcachedMemoryMB))
	}
	return o
}
