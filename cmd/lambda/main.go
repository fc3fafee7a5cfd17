// Command lambda is the deployable one-time upload function: one binary
// holding both handlers, chosen by _HANDLER as Lambda's provided.al2023
// runtime passes the template's Handler.
//
//	issue   API Gateway REST proxy event in, the reference's response out
//	verify  S3 event in; one JSON log line per decision
//
// It is built from the emulator's own one-time logic (emulator/onetime), so
// what the emulator race-tests in process is what this binary deploys.
// Configuration is environment variables (DESIGN §4); a bad one fails init
// with a message naming it, reported to the Runtime API's /init/error.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	fn, err := newFunction(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "uploadonce lambda: init failed:", err)
		if rerr := reportInitError(os.Getenv("AWS_LAMBDA_RUNTIME_API"), err); rerr != nil {
			fmt.Fprintln(os.Stderr, "uploadonce lambda: reporting the init error:", rerr)
		}
		os.Exit(1)
	}
	lambda.Start(fn.handler())
}

// reportInitError posts err to the Runtime API's /init/error, as a custom
// runtime must before it exits:
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html#runtimes-api-initerror
func reportInitError(api string, initErr error) error {
	if api == "" {
		return nil
	}
	errType := "Runtime.InitError"
	if _, ok := errors.AsType[*ConfigError](initErr); ok {
		errType = "Runtime.InvalidConfiguration"
	}
	body, _ := json.Marshal(map[string]any{"errorMessage": initErr.Error(), "errorType": errType, "stackTrace": []string{}})
	req, err := http.NewRequest(http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Lambda-Runtime-Function-Error-Type", errType)
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("runtime API answered %s", resp.Status)
	}
	return nil
}
