// Command lambdazip writes a Lambda deployment package: a zip holding one
// file, bootstrap, executable, as the provided.al2023 runtime runs it
// (https://docs.aws.amazon.com/lambda/latest/dg/golang-package.html).
//
//	lambdazip OUT.zip PATH/TO/bootstrap
//
// The entry has a fixed time, so equal binaries give equal zips.
package main

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lambdazip:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: lambdazip OUT.zip PATH/TO/bootstrap")
	}
	in, err := os.Open(args[1])
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(args[0])
	if err != nil {
		return err
	}
	zw := zip.NewWriter(out)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = io.Copy(w, in)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(args[0])
	}
	return err
}
