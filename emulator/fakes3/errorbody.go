package fakes3

import (
	"bytes"
	"encoding/xml"
	"net/http"

	"github.com/johannesboyne/gofakes3"

	"github.com/uploadonce/uploadonce/emulator/s3auth"
)

// s3Messages are S3's messages for the codes gofakes3 answers with an empty
// or different one (ErrorResponses.html).
var s3Messages = map[string]string{
	"NoSuchKey":                    "The specified key does not exist.",
	"NoSuchVersion":                "The specified version does not exist.",
	"NoSuchBucket":                 "The specified bucket does not exist",
	"NoSuchUpload":                 "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
	"InvalidRange":                 "The requested range is not satisfiable",
	"InvalidPart":                  "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
	"InvalidPartOrder":             "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
	"EntityTooSmall":               "Your proposed upload is smaller than the minimum allowed object size.",
	"BucketNotEmpty":               "The bucket you tried to delete is not empty",
	"BucketAlreadyOwnedByYou":      "Your previous request to create the named bucket succeeded and you already own it.",
	"BucketAlreadyExists":          "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
	"PreconditionFailed":           "At least one of the pre-conditions you specified did not hold",
	"MethodNotAllowed":             "The specified method is not allowed against this resource.",
	"NotImplemented":               "A header you provided implies functionality that is not implemented",
	"InvalidArgument":              "Invalid Argument",
	"KeyTooLongError":              "Your key is too long",
	"MalformedXML":                 "The XML you provided was not well-formed or did not validate against our published schema",
	"ConditionalRequestConflict":   "A conflicting conditional operation is currently in progress against this resource.",
	"InvalidBucketName":            "The specified bucket is not valid.",
	"MissingContentLength":         "You must provide the Content-Length HTTP header.",
	"MetadataTooLarge":             "Your metadata headers exceed the maximum allowed metadata size.",
	"InvalidDigest":                "The Content-MD5 you specified is not valid.",
	"BadDigest":                    "The Content-MD5 you specified did not match what we received.",
	"NoSuchCORSConfiguration":      "The CORS configuration does not exist",
	"InvalidToken":                 "The provided token is malformed or otherwise invalid.",
	"NoSuchLifecycleConfiguration": "The lifecycle configuration does not exist",
}

// s3Error rebuilds an error body gofakes3 wrote as S3 writes it: S3's
// message, the Key or BucketName it is about, the status of the code.
func s3Error(raw []byte, status int, r *http.Request) *s3auth.Error {
	var ge gofakes3.ErrorResponse
	_ = xml.Unmarshal(bytes.TrimSpace(raw), &ge)
	code := string(ge.Code)
	if code == "" {
		code = http.StatusText(status)
	}
	e := &s3auth.Error{Code: code, Message: ge.Message, Status: status}
	if m, ok := s3Messages[code]; ok && (e.Message == "" || e.Message == code) {
		e.Message = m
	}
	if e.Message == "" {
		e.Message = gofakes3.ErrorCode(code).Message()
	}
	bucket, key := splitPath(r.URL.Path)
	switch code {
	case "NoSuchBucket", "BucketNotEmpty", "BucketAlreadyOwnedByYou", "BucketAlreadyExists", "InvalidBucketName":
		e.Extra = append(e.Extra, s3auth.Field{Name: "BucketName", Value: bucket})
	case "NoSuchUpload":
		e.Extra = append(e.Extra, s3auth.Field{Name: "UploadId", Value: r.URL.Query().Get("uploadId")})
	default:
		if key != "" {
			e.Extra = append(e.Extra, s3auth.Field{Name: "Key", Value: key})
		}
		if v := r.URL.Query().Get("versionId"); v != "" && code == "NoSuchVersion" {
			e.Extra = append(e.Extra, s3auth.Field{Name: "VersionId", Value: v})
		}
	}
	return e
}
