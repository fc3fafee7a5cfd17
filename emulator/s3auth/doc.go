// Package s3auth is the request-authentication layer the fake S3 puts in
// front of gofakes3, so that the emulator enforces presigned URLs, POST
// policies and header signatures the way Amazon S3 does.
//
// It offers four checks, each a pure function of the request and a time the
// caller passes in (the emulator runs on a virtual clock, so nothing here
// reads time.Now):
//
//   - [Verifier.VerifyPresigned]: query authentication (presigned URLs),
//     SigV4 or SigV2.
//   - [Verifier.VerifyHeader]: SigV4 Authorization-header authentication.
//   - [Verifier.VerifyPost]: browser-based POST uploads (policy + signature),
//     SigV4 or SigV2, with [ParsePostForm] and [DecodePolicy].
//   - [PrepareBody] / [Verifier.PrepareBody]: decode aws-chunked bodies and
//     verify payload hashes and checksums, so the fake S3 stores exact bytes.
//
// Every failure is an [*Error] carrying S3's code, message and HTTP status;
// render it with [WriteError]. Callers tell errors apart with errors.As and the
// Code field, never by matching message text.
//
// SigV2 is verified unless Verifier.SigV2 is [SigV2Refuse], which turns
// every SigV2 request into S3's 400 InvalidRequest. Its StringToSign is built
// here by hand (the SDK has no SigV2 signer) from AWS's REST authentication
// guide; testdata/sigv2 holds that guide's examples. Header-signed SigV2 is
// always refused.
//
// SigV4 signatures of presigned and header-signed requests are recomputed
// from a canonical request built here from the specification (canonical.go):
// every header SignedHeaders names is signed, User-Agent, Expect and
// X-Amzn-Trace-Id included, which the AWS SDK signer would leave out. Tests
// pin it to the SDK signer and to AWS's SigV4 test suite. A mismatch is
// answered as S3 does, with StringToSign and CanonicalRequest in the body.
package s3auth
