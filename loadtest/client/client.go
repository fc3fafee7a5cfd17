// Package client is the reference clients' protocol as a library: get a
// one-time URL from the issue API with x-api-key, then upload with a
// multipart POST of every field followed by the file part, or with a PUT.
//
// It speaks plain HTTP, so it works against the emulator and against a real
// API Gateway and S3 alike.
package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// Client issues and uploads. The zero value is not usable; use New.
type Client struct {
	HTTP   *http.Client
	APIURL string // e.g. http://127.0.0.1:4566/Prod/getpresignedurl
	APIKey string
}

// New returns a client whose transport keeps up to conns idle connections
// per host, so a load run does not churn sockets.
func New(apiURL, apiKey string, conns int) *Client {
	if conns < 2 {
		conns = 2
	}
	tr := &http.Transport{
		Proxy:               nil, // loopback targets only; never a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}, APIURL: apiURL, APIKey: apiKey}
}

// Grant is an issued URL, in either response shape.
type Grant struct {
	Key     string
	Method  string // "POST" or "PUT"
	URL     string
	Fields  map[string]string
	Headers map[string]string
	Expires time.Time
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// Issue asks the API for a URL.
func (c *Client) Issue(ctx context.Context) (Grant, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.APIURL, nil)
	if err != nil {
		return Grant{}, err
	}
	if c.APIKey != "" {
		req.Header.Set("x-api-key", c.APIKey)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Grant{}, err
	}
	defer resp.Body.Close()
	body, err := readBody(resp, 1<<20)
	if err != nil {
		return Grant{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Grant{}, &StatusError{Status: resp.StatusCode, Body: string(body)}
	}
	return ParseGrant(body)
}

// grantParsers reuse their buffers across issue responses.
var grantParsers fastjson.ParserPool

// readBody reads at most limit bytes of resp's body, in one buffer of its
// length when the response gives one.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= limit {
		buf := make([]byte, n)
		_, err := io.ReadFull(resp.Body, buf)
		return buf, err
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}

// ParseGrant reads either {"url": {"url", "fields"}} (POST) or
// {"url": "...", "method": "PUT", "headers": {...}} (PUT), in one pass.
func ParseGrant(body []byte) (Grant, error) {
	if err := fastjson.ValidateBytes(body); err != nil {
		return Grant{}, fmt.Errorf("issue response is not JSON: %w", err)
	}
	p := grantParsers.Get()
	defer grantParsers.Put(p)
	doc, err := p.ParseBytes(body)
	if err != nil {
		return Grant{}, fmt.Errorf("issue response is not JSON: %w", err)
	}
	if doc.Type() != fastjson.TypeObject {
		return Grant{}, fmt.Errorf("issue response is not a JSON object but %s", doc.Type())
	}
	var g Grant
	if g.Key, err = optString(doc, "key"); err != nil {
		return Grant{}, err
	}
	if g.Headers, err = stringMap(doc.Get("headers"), "headers"); err != nil {
		return Grant{}, err
	}
	if exp := doc.Get("expires"); exp != nil && exp.Type() != fastjson.TypeNull {
		s, err := exp.StringBytes()
		if err == nil {
			g.Expires, err = time.Parse(time.RFC3339, string(s))
		}
		if err != nil {
			return Grant{}, fmt.Errorf(`issue response's "expires" is not an RFC 3339 time: %s`, exp)
		}
	}
	// "url" is an object for POST and a string for PUT.
	switch u := doc.Get("url"); {
	case u != nil && u.Type() == fastjson.TypeObject:
		url, err := optString(u, "url")
		if err != nil || url == "" {
			return Grant{}, errors.New(`issue response has no "url"`)
		}
		if g.Fields, err = stringMap(u.Get("fields"), "fields"); err != nil {
			return Grant{}, err
		}
		g.Method, g.URL = http.MethodPost, url
		if g.Key == "" {
			g.Key = g.Fields["key"]
		}
	case u != nil && u.Type() == fastjson.TypeString:
		if g.URL = string(u.GetStringBytes()); g.URL == "" {
			return Grant{}, errors.New(`issue response has no "url"`)
		}
		g.Method = http.MethodPut
	default:
		return Grant{}, errors.New(`issue response has no "url"`)
	}
	return g, nil
}

// optString is v's string member name; "" when it is absent or null.
func optString(v *fastjson.Value, name string) (string, error) {
	m := v.Get(name)
	if m == nil || m.Type() == fastjson.TypeNull {
		return "", nil
	}
	s, err := m.StringBytes()
	if err != nil {
		return "", fmt.Errorf("issue response's %q is not a string: %s", name, m)
	}
	return string(s), nil
}

// stringMap reads an object of strings; nil when v is absent or null.
func stringMap(v *fastjson.Value, name string) (map[string]string, error) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	obj, err := v.Object()
	if err != nil {
		return nil, fmt.Errorf("issue response's %q is not an object: %s", name, v)
	}
	out := make(map[string]string, obj.Len())
	obj.Visit(func(k []byte, m *fastjson.Value) {
		s, serr := m.StringBytes()
		if serr != nil && err == nil {
			err = fmt.Errorf("issue response's %q has %q, which is not a string", name, k)
		}
		out[string(k)] = string(s)
	})
	return out, err
}

// writeField writes a form field as multipart.Writer.WriteField does
// (boundary, Content-Disposition with the name quoted, value, CRLF), without
// its header map and formatting: a POST carries half a dozen fields. The
// CRLF ending the value begins the next part's delimiter, so the file part
// that multipart.Writer adds after the fields follows on correctly.
func writeField(buf *bytes.Buffer, boundary, name, value string) {
	buf.WriteString("--")
	buf.WriteString(boundary)
	buf.WriteString("\r\nContent-Disposition: form-data; name=\"")
	_, _ = quoteEscaper.WriteString(buf, name)
	buf.WriteString("\"\r\n\r\n")
	buf.WriteString(value)
	buf.WriteString("\r\n")
}

// quoteEscaper escapes a form name as mime/multipart does.
var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

// Result is an upload's answer.
type Result struct {
	Status int
	Body   []byte // error bodies; empty on success
	ETag   string
}

// Upload sends body with g, as the reference clients do: for POST, every
// field in a stable order, then the part "file".
func (c *Client) Upload(ctx context.Context, g Grant, body []byte) (Result, error) {
	var req *http.Request
	var err error
	switch g.Method {
	case http.MethodPut:
		req, err = http.NewRequestWithContext(ctx, http.MethodPut, g.URL, bytes.NewReader(body))
		if err != nil {
			return Result{}, err
		}
		for k, v := range g.Headers {
			req.Header.Set(k, v)
		}
	default:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		names := make([]string, 0, len(g.Fields))
		size := len(body) + 256 // the file part's header and the closing boundary
		for k, v := range g.Fields {
			names = append(names, k)
			size += len(k) + len(v) + 64 + len(mw.Boundary()) // a part's boundary and header
		}
		buf.Grow(size)
		sort.Strings(names)
		for _, k := range names {
			writeField(&buf, mw.Boundary(), k, g.Fields[k])
		}
		fw, err := mw.CreateFormFile("file", "upload.bin")
		if err != nil {
			return Result{}, err
		}
		if _, err := fw.Write(body); err != nil {
			return Result{}, err
		}
		if err := mw.Close(); err != nil {
			return Result{}, err
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, g.URL, &buf)
		if err != nil {
			return Result{}, err
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	rb, err := readBody(resp, 64<<10)
	if err != nil {
		return Result{Status: resp.StatusCode}, err
	}
	r := Result{Status: resp.StatusCode, ETag: resp.Header.Get("ETag")}
	if resp.StatusCode >= 300 {
		r.Body = rb
	}
	return r, nil
}
