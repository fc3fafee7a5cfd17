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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"sort"
	"time"
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Grant{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Grant{}, &StatusError{Status: resp.StatusCode, Body: string(body)}
	}
	return ParseGrant(body)
}

// ParseGrant reads either {"url": {"url", "fields"}} (POST) or
// {"url": "...", "method": "PUT", "headers": {...}} (PUT).
func ParseGrant(body []byte) (Grant, error) {
	var raw struct {
		URL     json.RawMessage   `json:"url"`
		Method  string            `json:"method"`
		Headers map[string]string `json:"headers"`
		Key     string            `json:"key"`
		Expires time.Time         `json:"expires"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Grant{}, fmt.Errorf("issue response is not JSON: %w", err)
	}
	g := Grant{Key: raw.Key, Expires: raw.Expires, Headers: raw.Headers}
	// "url" is an object for POST and a string for PUT; its first byte says
	// which, so only one decode runs (a RawMessage starts at its value).
	u := raw.URL
	switch {
	case len(u) > 0 && u[0] == '{':
		var post struct {
			URL    string            `json:"url"`
			Fields map[string]string `json:"fields"`
		}
		if err := json.Unmarshal(u, &post); err != nil || post.URL == "" {
			return Grant{}, errors.New(`issue response has no "url"`)
		}
		g.Method, g.URL, g.Fields = http.MethodPost, post.URL, post.Fields
		if g.Key == "" {
			g.Key = post.Fields["key"]
		}
	case len(u) > 0 && u[0] == '"':
		if err := json.Unmarshal(u, &g.URL); err != nil || g.URL == "" {
			return Grant{}, errors.New(`issue response has no "url"`)
		}
		g.Method = http.MethodPut
	default:
		return Grant{}, errors.New(`issue response has no "url"`)
	}
	return g, nil
}

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
		for k := range g.Fields {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if err := mw.WriteField(k, g.Fields[k]); err != nil {
				return Result{}, err
			}
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
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Result{Status: resp.StatusCode}, err
	}
	r := Result{Status: resp.StatusCode, ETag: resp.Header.Get("ETag")}
	if resp.StatusCode >= 300 {
		r.Body = rb
	}
	return r, nil
}
