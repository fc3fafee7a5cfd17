package fakes3_test

import (
	"context"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chromedp/chromedp"

	"github.com/uploadonce/uploadonce/emulator/internal/browsertest"
)

var redirectForm = template.Must(template.New("f").Parse(`<!doctype html><html><body>
<form id="f" method="post" enctype="multipart/form-data" action="{{.URL}}">
{{range $k, $v := .Values}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<input type="file" name="file" id="file"><button id="go" type="submit">Upload</button>
</form></body></html>`))

// TestBrowserFormRedirect: a plain HTML form with success_action_redirect,
// submitted by Chromium, lands on the page it names with bucket, key and
// etag in the query (RESTObjectPOST).
func TestBrowserFormRedirect(t *testing.T) {
	ctx := browsertest.New(t, 30*time.Second)
	h := newHarness(t, false)
	var app *httptest.Server
	app = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		if r.URL.Path == "/done" {
			_, _ = w.Write([]byte("<!doctype html><title>done</title><p id=done>stored</p>"))
			return
		}
		redirect := app.URL + "/done"
		out, err := s3.NewPresignClient(h.client).PresignPostObject(context.Background(),
			&s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/picked.txt")},
			func(o *s3.PresignPostOptions) {
				o.Expires = time.Minute
				o.Conditions = []any{map[string]string{"success_action_redirect": redirect}}
			})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		out.Values["success_action_redirect"] = redirect
		_ = redirectForm.Execute(w, out)
	}))
	t.Cleanup(app.Close)
	file := filepath.Join(t.TempDir(), "picked.txt")
	if err := os.WriteFile(file, []byte("chosen in a browser"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/form"),
		chromedp.SetUploadFiles("#file", []string{file}),
		chromedp.Click("#go"),
		chromedp.WaitVisible("#done"),
	); err != nil {
		t.Fatal(err)
	}
	landed, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(landed)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if !strings.HasPrefix(landed, app.URL+"/done?") || q.Get("bucket") != bucket || q.Get("key") != "uploads/picked.txt" ||
		q.Get("etag") != `"`+md5hex("chosen in a browser")+`"` {
		t.Fatalf("landed on %s", landed)
	}
	if got := getBody(t, h, "uploads/picked.txt"); got != "chosen in a browser" {
		t.Fatalf("stored %q", got)
	}
}
