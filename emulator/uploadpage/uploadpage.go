// Package uploadpage serves the emulator's browser page at /_uploadonce/: a
// person gets a one-time URL from the issue API, uploads a file through a
// plain HTML form built from the presigned POST fields, as a browser does
// against S3, and watches the events and the verifier's decisions arrive.
//
// The page is one HTML file embedded in the binary: no build step, no CDN,
// no framework. It needs the API key to call the issue API; the page carries
// it only when the request comes from a loopback address, so a listener
// opened beyond loopback does not hand the key to whoever asks.
package uploadpage

import (
	_ "embed"
	"html/template"
	"net"
	"net/http"
)

//go:embed index.html
var indexHTML string

var page = template.Must(template.New("index").Parse(indexHTML))

// Config is what the page needs to know about the stack.
type Config struct {
	// IssuePath is the issue API's path, e.g. /Prod/getpresignedurl.
	IssuePath string
	// APIKey is the issue API's key; given to loopback clients only.
	APIKey string
	// InspectPrefix is where events and decisions are, e.g. /_uploadonce/.
	InspectPrefix string
	Bucket        string
}

// Handler returns the page's handler.
func Handler(cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data := cfg
		if !fromLoopback(r) {
			data.APIKey = ""
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		// The key is in the page: keep it out of other origins' frames.
		w.Header().Set("X-Frame-Options", "DENY")
		_ = page.Execute(w, data)
	})
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
