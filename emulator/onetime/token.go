package onetime

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// RandomChars is the length of a key's random part: 22 characters of
// [A-Za-z0-9] carry 22*log2(62) ≈ 131 bits.
const RandomChars = 22

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewKey returns prefix + "UploadFilename-<YYYYmmdd_HHMMSS>-<random>", the
// reference's key shape with a random part from r (crypto/rand when nil).
func NewKey(r io.Reader, prefix string, now time.Time) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	s, err := randomString(r, RandomChars)
	if err != nil {
		return "", err
	}
	return prefix + "UploadFilename-" + now.UTC().Format("20060102_150405") + "-" + s, nil
}

// randomString draws n characters of alphabet without modulo bias.
func randomString(r io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		for _, b := range buf {
			// 248 = 4*62: bytes at or above it would favour the first letters.
			if b < 248 && len(out) < n {
				out = append(out, alphabet[b%62])
			}
		}
	}
	return string(out), nil
}

// Token states as stored in memcached.
const (
	stateValid    = "valid"
	stateConsumed = "consumed"
)

// tokenValue is the memcached value of a token:
//
//	valid <deadline-unix-ms>
//	consumed <deadline-unix-ms> <sequencer> <etag> <versionId>
//
// The first word keeps the reference's "valid".
type tokenValue struct {
	State    string
	Deadline time.Time
	Winner   Winner
}

// Winner identifies the upload that consumed a token, and the bytes it
// accepts: its own ETag, or the ETag its claim was passed to (PassClaim).
type Winner struct {
	Sequencer string `json:"sequencer,omitempty"`
	ETag      string `json:"eTag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
}

// Same reports whether w and u describe one upload: one write has one
// sequencer, and a versioned write one versionId. The ETag is not compared:
// after a passed claim it names the bytes the winner accepts, not its own.
func (w Winner) Same(u Upload) bool {
	if w.VersionID != "" || u.VersionID != "" {
		return w.VersionID == u.VersionID
	}
	return w.Sequencer != "" && w.Sequencer == u.Sequencer
}

func (v tokenValue) encode() []byte {
	ms := strconv.FormatInt(v.Deadline.UnixMilli(), 10)
	if v.State == stateConsumed {
		return []byte(strings.Join([]string{stateConsumed, ms, dash(v.Winner.Sequencer), dash(v.Winner.ETag), dash(v.Winner.VersionID)}, " "))
	}
	return []byte(stateValid + " " + ms)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func undash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

var errBadToken = errors.New("token value is not one uploadonce wrote")

func decodeToken(b []byte) (tokenValue, error) {
	f := strings.Fields(string(b))
	if len(f) == 1 && f[0] == stateValid {
		// The reference's bare "valid", with no deadline of its own.
		return tokenValue{State: stateValid}, nil
	}
	if len(f) < 2 {
		return tokenValue{}, fmt.Errorf("%w: %q", errBadToken, b)
	}
	ms, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return tokenValue{}, fmt.Errorf("%w: %q", errBadToken, b)
	}
	v := tokenValue{State: f[0], Deadline: time.UnixMilli(ms)}
	switch {
	case f[0] == stateValid && len(f) == 2:
	case f[0] == stateConsumed && len(f) == 5:
		v.Winner = Winner{Sequencer: undash(f[2]), ETag: undash(f[3]), VersionID: undash(f[4])}
	default:
		return tokenValue{}, fmt.Errorf("%w: %q", errBadToken, b)
	}
	return v, nil
}

// expired reports whether the deadline has passed at now. A zero deadline
// never expires.
func (v tokenValue) expired(now time.Time) bool {
	return !v.Deadline.IsZero() && now.After(v.Deadline)
}

// ttlSeconds is the memcached exptime for a deadline: the time left on the
// caller's clock, rounded up, at least 1 s. memcached reads values above
// 30 days as absolute times, so longer TTLs are capped there.
func ttlSeconds(deadline, now time.Time) int32 {
	left := deadline.Sub(now)
	s := int64((left + time.Second - 1) / time.Second)
	const thirtyDays = 30 * 24 * 3600
	switch {
	case s < 1:
		return 1
	case s > thirtyDays:
		return thirtyDays
	}
	return int32(s)
}
