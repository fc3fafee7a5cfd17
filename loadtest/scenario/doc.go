// Package scenario decodes, validates and checks scenario files: YAML that
// says which one-time URLs to issue, which uploads each one receives and
// when, the emulated stack and its faults, and what must come out.
//
// A scenario becomes one [plan.Plan] per strategy ([Scenario.Plans]); the
// engine runs the plan, and [Scenario.Check] compares what it observed with
// the file's expectations.
//
// # Decoding is strict
//
// [Load] and [Decode] reject an unknown field, a wrong type, a bad duration
// or a bad comparison with an [*Error] that names file:line:col and the
// field. [Scenario.Validate] checks values (ranges, names, cross-references)
// and names the line each bad value came from. Nothing runs before both
// succeed.
//
// # Schema
//
// Every field is optional unless marked required; the default is in
// brackets. Durations are Go durations with a unit ("250ms", "40s", "2m");
// a bare 0 is also accepted.
//
//	name: upload2x             # [the file name without .yaml]
//	seed: 1                    # seeds every random choice [1]
//	clock: virtual             # virtual | real [virtual]: on the virtual
//	                           # clock a 40 s wait costs nothing
//	memcached: embedded        # memcached.ParseSpec syntax [auto]
//	memcached_memory_mb: 2     # memcached -m (embedded: byte limit), 2..65536 [64]
//	memcached_hashing: ketama  # key placement: modulo | ketama | ketama-md5 | rendezvous
//	                           # [modulo]; embedded nodes are discovered through
//	                           # config get cluster and rediscovered every 60 s
//	verifier_memcached_hashing: modulo  # the verifier's placement, when it differs
//	                           # from the issuer's [memcached_hashing]
//	method: post               # how URLs are issued: post | put [post]
//	url_expiry: 30s            # presigned URL lifetime [30s]
//	token_ttl: 15m             # token lifetime in memcached [15m]
//	keep_rejected: true        # leave rejected uploads in place [false]
//	strategy: get-delete       # one strategy [cas], or a list that runs
//	strategies: [get-delete, delete, cas]  # once per strategy; not both
//	events:                    # the S3 event delivery model
//	  delay: 0                 # s3event.ParseDelay: 250ms | 10ms..2s | exp:300ms | aws [0]
//	  duplicates: 0            # chance 0..1 of one extra delivery [0]
//	  reorder: 0s              # reorder window [0]
//	  coalesce: false          # one event for concurrent writes to a key [false]
//	  max_age: 6h              # 60s..6h; drop older events [6h]
//	lambda:                    # the verifier's invoker
//	  concurrency: 16          # invocations at once, 1..4096 [16]
//	  retries: 2               # retries of a failed invocation, 0..2 [2]
//	  error_rate: 0            # fraction 0..1 of invocations that fail [0]
//	concurrency: 64            # tokens in flight, 1..4096 [16]
//	rate: 0                    # tokens started per second; 0 = closed model [0]
//	timeout: 2m                # wall-clock bound of the run [2m]
//	groups:                    # required: at least one group
//	  - name: twice            # required, [A-Za-z0-9_-]+, unique
//	    tokens: 1              # URLs issued in this group, >= 0 [1]
//	    uploads:               # what each token receives, in order
//	      - at: 0s             # offset from the token's issue [0s]
//	      - after_previous: 0s # or: offset from the previous upload's return
//	        method: post       # post | put [the issue method]
//	        size: 16           # body bytes, up to 64 MiB; 0 = the default [16]
//	        content: same      # same | unique | literal text [same]
//	faults:                    # injected failures
//	  - kind: memcached-flush  # memcached-restart|-flush|-evict|-latency|-pause|-conn-limit,
//	                           # memcached-add-node|-remove-node (embedded:N)
//	    at: 1s                 # offset from the start of the run
//	    duration: 500ms        # required for latency and pause; optional for conn-limit
//	    value: 1048576         # required for evict (memory limit in bytes) and
//	                           # conn-limit (connections); both embedded only
//	expect:
//	  groups:                  # per group, checked for EVERY token of it
//	    twice:
//	      statuses: [204, 204] # S3 status of each upload, in order
//	      accepted: 1          # accepted uploads per token
//	      rejected: 1          # rejected uploads per token
//	      events: 2            # S3 events per token
//	  totals:                  # over the whole run
//	    tokens: 1
//	    uploads: 2
//	    accepted: 1
//	    rejected: 1
//	    events: 2
//	    fail_closed: 0         # fail-closed (retryable) rejections
//	    unknown: 0             # URLs whose outcome the client could not see
//	  violations:              # violations allowed [all 0; lost_urls of get-delete and delete: any]
//	    double_accept: 0       # double_accept | false_reject | late_accept | wrong_bytes | lost_urls
//	  reasons:                 # final rejections by verifier reason; only those named
//	    token-missing: 0
//	  explained:               # explained rejects by cause; only those named
//	    token-lost-to-memcached-restart: 0
//	  strategies:              # per strategy, overriding the above field by field
//	    get-delete:
//	      violations: {double_accept: ">0"}
//
// Every expected number is a comparison: an integer (exactly that), or a
// string ">N", ">=N", "<N", "<=N", "==N", "A..B" (a range, both included),
// or "any" (not checked, but shown).
//
// # Limits
//
// A scenario issues at most 2,000,000 tokens, at most 1,000 uploads per
// token, bodies of at most 64 MiB, and at most 2 GiB of upload bodies in
// all; files are at most 1 MiB.
package scenario
