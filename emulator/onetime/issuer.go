package onetime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Method is how a client uploads with a granted URL.
type Method string

// Upload methods.
const (
	MethodPOST Method = "post"
	MethodPUT  Method = "put"
)

// ErrIfNoneMatchPOST is the if-none-match strategy with the POST method:
// the one rule about methods, reported with these words everywhere.
var ErrIfNoneMatchPOST = errors.New("strategy if-none-match signs If-None-Match on a presigned PUT, " +
	"which a POST policy cannot carry: use the put method (the strategy's default)")

// UploadMethod returns the method a strategy grants: m when set, else PUT
// for if-none-match and POST for the others. An explicit POST with
// if-none-match is ErrIfNoneMatchPOST.
func UploadMethod(strategy string, m Method) (Method, error) {
	switch {
	case m == "" && strategy == IfNoneMatch:
		return MethodPUT, nil
	case m == "":
		return MethodPOST, nil
	case strategy == IfNoneMatch && m != MethodPUT:
		return m, ErrIfNoneMatchPOST
	}
	return m, nil
}

// ParseMethod reads "post" or "put".
func ParseMethod(s string) (Method, error) {
	switch Method(s) {
	case MethodPOST, MethodPUT:
		return Method(s), nil
	}
	return "", fmt.Errorf("upload method %q: want post or put", s)
}

// Defaults for an Issuer. The token TTL covers the URL's life plus late
// events and both Lambda retries (1 + 2 min).
const (
	DefaultURLExpiry = 30 * time.Second
	DefaultTokenTTL  = 15 * time.Minute
	DefaultPrefix    = "uploads/"
	AcceptedPrefix   = "accepted/"
)

// Issuer hands out one-time upload URLs. The zero value is not usable; set
// Strategy, Presigner, Clock and Bucket.
type Issuer struct {
	Strategy  Strategy
	Presigner Presigner
	Clock     Clock
	Bucket    string
	Prefix    string        // DefaultPrefix when empty
	URLExpiry time.Duration // DefaultURLExpiry when zero
	TokenTTL  time.Duration // DefaultTokenTTL when zero
	Method    Method        // MethodPOST when empty
	// IfNoneMatch makes PUT URLs sign "If-None-Match: *".
	IfNoneMatch bool
	// Rand is the source of the key's random part; crypto/rand when nil.
	Rand io.Reader
}

// Grant is an issued URL.
type Grant struct {
	Key      string
	Method   Method
	URL      string
	Fields   map[string]string // POST only
	Headers  http.Header       // PUT only: headers the client must send
	Issued   time.Time
	Expires  time.Time // the URL's expiry
	Deadline time.Time // the token's deadline
}

// Issue creates a key, registers its token and presigns its URL.
func (is *Issuer) Issue(ctx context.Context) (Grant, error) {
	now := is.Clock.Now()
	prefix := is.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	expiry := is.URLExpiry
	if expiry <= 0 {
		expiry = DefaultURLExpiry
	}
	ttl := is.TokenTTL
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	key, err := NewKey(is.Rand, prefix, now)
	if err != nil {
		return Grant{}, err
	}
	g := Grant{Key: key, Method: is.Method, Issued: now, Expires: now.Add(expiry), Deadline: now.Add(ttl)}
	if g.Method == "" {
		g.Method = MethodPOST
	}
	if err := is.Strategy.Register(ctx, Token{Bucket: is.Bucket, Key: key, Issued: now, Deadline: g.Deadline}); err != nil {
		return Grant{}, fmt.Errorf("register token: %w", err)
	}
	switch g.Method {
	case MethodPUT:
		p, err := is.Presigner.PresignPut(ctx, is.Bucket, key, expiry, is.IfNoneMatch)
		if err != nil {
			return Grant{}, err
		}
		g.URL, g.Headers = p.URL, p.Headers
	default:
		p, err := is.Presigner.PresignPost(ctx, is.Bucket, key, expiry)
		if err != nil {
			return Grant{}, err
		}
		g.URL, g.Fields = p.URL, p.Fields
	}
	return g, nil
}
