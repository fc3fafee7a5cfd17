package issueapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"
)

// Invoke runs a function synchronously: the event in, its response out. A
// function error is an error.
type Invoke func(ctx context.Context, event []byte) ([]byte, error)

// Proxy serves the issue endpoint with a function behind a Lambda proxy
// integration, as API Gateway REST APIs do: the request becomes an
// APIGatewayProxyRequest event and the function's statusCode, headers and
// body are passed through. A function error, or a response that is not a
// proxy response, is API Gateway's 502 {"message": "Internal server error"}
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-output-format,
// https://repost.aws/knowledge-center/malformed-502-api-gateway).
type Proxy struct {
	invoke Invoke
	apiKey []byte
	stage  string
	path   string
	log    zerolog.Logger
	// OnIssue, when set, observes each integration call: the status the
	// client got, how long the function took, and its error.
	OnIssue func(status int, took time.Duration, err error)
}

// NewProxy returns a handler for /<stage>/getpresignedurl that requires
// apiKey and calls invoke.
func NewProxy(invoke Invoke, stage, apiKey string, log zerolog.Logger) *Proxy {
	if stage == "" {
		stage = DefaultStage
	}
	return &Proxy{invoke: invoke, apiKey: []byte(apiKey), stage: stage, path: Path(stage), log: log}
}

// errMalformed is a function response API Gateway cannot read.
var errMalformed = errors.New("Execution failed due to configuration error: Malformed Lambda proxy response")

// ServeHTTP implements http.Handler.
func (h *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := requestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	if !authorize(w, r, h.path, h.apiKey) {
		return
	}
	event, _ := json.Marshal(proxyEvent(r, h.stage, reqID))
	start := time.Now()
	out, err := h.invoke(r.Context(), event)
	took := time.Since(start)
	var resp events.APIGatewayProxyResponse
	var body []byte
	if err == nil {
		body, err = readProxyResponse(out, &resp)
	}
	if err != nil {
		h.log.Error().Err(err).Str("request_id", reqID).Msg("issue function failed")
		if h.OnIssue != nil {
			h.OnIssue(http.StatusBadGateway, took, err)
		}
		writeJSON(w, http.StatusBadGateway, message{"Internal server error"})
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if h.OnIssue != nil {
		h.OnIssue(resp.StatusCode, took, nil)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// readProxyResponse decodes a proxy response and its body.
func readProxyResponse(out []byte, resp *events.APIGatewayProxyResponse) ([]byte, error) {
	if err := json.Unmarshal(out, resp); err != nil || resp.StatusCode < 100 || resp.StatusCode > 599 {
		return nil, errMalformed
	}
	if !resp.IsBase64Encoded {
		return []byte(resp.Body), nil
	}
	b, err := base64.StdEncoding.DecodeString(resp.Body)
	if err != nil {
		return nil, errMalformed
	}
	return b, nil
}

// proxyEvent is the REST API proxy integration's input for r
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format).
func proxyEvent(r *http.Request, stage, reqID string) events.APIGatewayProxyRequest {
	ev := events.APIGatewayProxyRequest{
		Resource: "/getpresignedurl", Path: "/getpresignedurl", HTTPMethod: r.Method,
		Headers: map[string]string{}, MultiValueHeaders: map[string][]string{},
		RequestContext: events.APIGatewayProxyRequestContext{
			Stage: stage, RequestID: reqID, ResourcePath: "/getpresignedurl", HTTPMethod: r.Method,
			Path: "/" + stage + "/getpresignedurl", RequestTimeEpoch: time.Now().UnixMilli(),
			Identity: events.APIGatewayRequestIdentity{SourceIP: sourceIP(r), APIKey: r.Header.Get("x-api-key"), UserAgent: r.UserAgent()},
		},
	}
	for k, vs := range r.Header {
		ev.Headers[k] = vs[len(vs)-1]
		ev.MultiValueHeaders[k] = vs
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		ev.MultiValueQueryStringParameters = map[string][]string(q)
		for k, vs := range q {
			ev.QueryStringParameters[k] = vs[len(vs)-1]
		}
	}
	return ev
}

func sourceIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
