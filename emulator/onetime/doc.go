// Package onetime is the system under test: it issues one-time upload URLs
// and verifies the S3 events of the uploads, with a pluggable guard
// (Strategy) that decides which upload a URL admits.
//
// It knows nothing of the emulator. Its dependencies are small interfaces,
// Cache (gomemcache's *memcache.Client satisfies it), Objects (S3 copy,
// delete and head) and Presigner, with implementations on the AWS SDK for
// Go v2, so the same code could run in a real Lambda.
//
// # Tokens and deadlines
//
// A token's memcached value carries its own deadline (issue time plus the
// token TTL, on the caller's clock), and strategies judge expiry from that
// value. The memcached TTL is only garbage collection. This keeps verdicts
// on the emulator's clock even when memcached runs on real time, and lets a
// virtual clock move 40 s in a microsecond.
package onetime
