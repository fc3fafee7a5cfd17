package s3auth

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// S3 error codes this package returns. They are S3's own codes; clients and
// SDKs switch on them.
const (
	CodeAccessDenied                        = "AccessDenied"
	CodeSignatureDoesNotMatch               = "SignatureDoesNotMatch"
	CodeInvalidAccessKeyID                  = "InvalidAccessKeyId"
	CodeAuthorizationQueryParametersError   = "AuthorizationQueryParametersError"
	CodeAuthorizationHeaderMalformed        = "AuthorizationHeaderMalformed"
	CodeMissingSecurityHeader               = "MissingSecurityHeader"
	CodeInvalidArgument                     = "InvalidArgument"
	CodeMalformedPOSTRequest                = "MalformedPOSTRequest"
	CodeMaxPostPreDataLengthExceeded        = "MaxPostPreDataLengthExceededError"
	CodeEntityTooSmall                      = "EntityTooSmall"
	CodeEntityTooLarge                      = "EntityTooLarge"
	CodeInvalidPolicyDocument               = "InvalidPolicyDocument"
	CodeIncorrectNumberOfFilesInPostRequest = "IncorrectNumberOfFilesInPostRequest"
	CodeXAmzContentSHA256Mismatch           = "XAmzContentSHA256Mismatch"
	CodeInvalidRequest                      = "InvalidRequest"
	CodeRequestTimeTooSkewed                = "RequestTimeTooSkewed"
	CodeBadDigest                           = "BadDigest"
	CodeInvalidDigest                       = "InvalidDigest"
	CodeIncompleteBody                      = "IncompleteBody"
	CodeMalformedTrailerError               = "MalformedTrailerError"
	CodeMissingContentLength                = "MissingContentLength"
	CodeRequestTimeout                      = "RequestTimeout"
	CodeInternalError                       = "InternalError"
)

// serverTimeFormat is how S3 writes times in error elements (Expires,
// ServerTime): RFC 3339 in UTC with a literal Z.
const serverTimeFormat = "2006-01-02T15:04:05Z"

// MaxClockSkew is how far a header-signed request's date may be from the
// server's clock, and how far in the future a presigned URL may be dated.
const MaxClockSkew = 15 * time.Minute

// Field is one extra XML element of an S3 error body, such as
// <X-Amz-Expires>30</X-Amz-Expires>.
type Field struct {
	Name  string
	Value string
}

// Error is an S3 error: the code, message and HTTP status S3 answers with,
// plus the extra elements S3 puts in the body. Status 0 means 500.
type Error struct {
	Code     string
	Message  string
	Status   int
	Resource string
	// Extra holds additional XML elements, rendered in order after Message.
	Extra []Field
}

// Error implements error as "Code: Message".
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	return e.Code + ": " + e.Message
}

// Field returns the value of the extra element name, or "" if absent.
func (e *Error) Field(name string) string {
	for _, f := range e.Extra {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

func newError(code string, status int, msg string, extra ...Field) *Error {
	return &Error{Code: code, Message: msg, Status: status, Extra: extra}
}

// ErrAccessDenied is 403 AccessDenied with msg.
func ErrAccessDenied(msg string, extra ...Field) *Error {
	return newError(CodeAccessDenied, http.StatusForbidden, msg, extra...)
}

// ErrRequestExpired is 403 AccessDenied "Request has expired" for a presigned
// URL signed at date for expires, judged at now.
func ErrRequestExpired(date time.Time, expires int64, now time.Time) *Error {
	return ErrAccessDenied("Request has expired",
		Field{"X-Amz-Expires", strconv.FormatInt(expires, 10)},
		Field{"Expires", date.Add(time.Duration(expires) * time.Second).UTC().Format(serverTimeFormat)},
		Field{"ServerTime", now.UTC().Format(serverTimeFormat)},
	)
}

// ErrSignatureDoesNotMatch is 403 SignatureDoesNotMatch.
func ErrSignatureDoesNotMatch(accessKeyID, provided string) *Error {
	return newError(CodeSignatureDoesNotMatch, http.StatusForbidden,
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.",
		Field{"AWSAccessKeyId", accessKeyID}, Field{"SignatureProvided", provided})
}

// ErrSignatureDoesNotMatchV2 is 403 SignatureDoesNotMatch for a SigV2
// request or POST, with the elements S3 adds so a client can see how its
// canonicalisation differs: the StringToSign and its bytes in hex.
func ErrSignatureDoesNotMatchV2(accessKeyID, stringToSign, provided string) *Error {
	e := ErrSignatureDoesNotMatch(accessKeyID, provided)
	e.Extra = []Field{{"AWSAccessKeyId", accessKeyID}, {"StringToSign", stringToSign},
		{"SignatureProvided", provided}, {"StringToSignBytes", spacedHex(stringToSign)}}
	return e
}

// spacedHex writes s as S3's StringToSignBytes does: "47 45 54".
func spacedHex(s string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 3*len(s))
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(b)
}

// ErrInvalidAccessKeyID is 403 InvalidAccessKeyId.
func ErrInvalidAccessKeyID(accessKeyID string) *Error {
	return newError(CodeInvalidAccessKeyID, http.StatusForbidden,
		"The AWS Access Key Id you provided does not exist in our records.",
		Field{"AWSAccessKeyId", accessKeyID})
}

// ErrAuthorizationQueryParameters is 400 AuthorizationQueryParametersError.
func ErrAuthorizationQueryParameters(msg string, extra ...Field) *Error {
	return newError(CodeAuthorizationQueryParametersError, http.StatusBadRequest, msg, extra...)
}

// ErrAuthorizationHeaderMalformed is 400 AuthorizationHeaderMalformed.
func ErrAuthorizationHeaderMalformed(msg string, extra ...Field) *Error {
	return newError(CodeAuthorizationHeaderMalformed, http.StatusBadRequest, msg, extra...)
}

// ErrMissingSecurityHeader is 400 MissingSecurityHeader naming the header.
func ErrMissingSecurityHeader(header string) *Error {
	return newError(CodeMissingSecurityHeader, http.StatusBadRequest,
		"Your request was missing a required header", Field{"MissingHeaderName", header})
}

// ErrInvalidArgument is 400 InvalidArgument about argument name=value.
func ErrInvalidArgument(msg, name, value string) *Error {
	return newError(CodeInvalidArgument, http.StatusBadRequest, msg,
		Field{"ArgumentName", name}, Field{"ArgumentValue", value})
}

// ErrMalformedPOSTRequest is 400 MalformedPOSTRequest.
func ErrMalformedPOSTRequest(detail string) *Error {
	msg := "The body of your POST request is not well-formed multipart/form-data."
	if detail != "" {
		msg += " " + detail
	}
	return newError(CodeMalformedPOSTRequest, http.StatusBadRequest, msg)
}

// ErrMaxPostPreDataLengthExceeded is 400: the fields before the file are too
// large.
func ErrMaxPostPreDataLengthExceeded(limit int64) *Error {
	return newError(CodeMaxPostPreDataLengthExceeded, http.StatusBadRequest,
		"Your POST request fields preceding the upload file were too large.",
		Field{"MaxPostPreDataLength", strconv.FormatInt(limit, 10)})
}

// ErrIncorrectNumberOfFiles is 400 IncorrectNumberOfFilesInPostRequest.
func ErrIncorrectNumberOfFiles() *Error {
	return newError(CodeIncorrectNumberOfFilesInPostRequest, http.StatusBadRequest,
		"POST requires exactly one file upload per request.")
}

// ErrEntityTooSmall is 400 EntityTooSmall.
func ErrEntityTooSmall(proposed, min int64) *Error {
	return newError(CodeEntityTooSmall, http.StatusBadRequest,
		"Your proposed upload is smaller than the minimum allowed size",
		Field{"ProposedSize", strconv.FormatInt(proposed, 10)},
		Field{"MinSizeAllowed", strconv.FormatInt(min, 10)})
}

// ErrEntityTooLarge is 400 EntityTooLarge.
func ErrEntityTooLarge(proposed, max int64) *Error {
	return newError(CodeEntityTooLarge, http.StatusBadRequest,
		"Your proposed upload exceeds the maximum allowed size",
		Field{"ProposedSize", strconv.FormatInt(proposed, 10)},
		Field{"MaxSizeAllowed", strconv.FormatInt(max, 10)})
}

// ErrInvalidPolicyDocument is 400 InvalidPolicyDocument; detail names what
// is wrong ("Invalid Policy: " is prefixed).
func ErrInvalidPolicyDocument(detail string) *Error {
	return newError(CodeInvalidPolicyDocument, http.StatusBadRequest, "Invalid Policy: "+detail)
}

// ErrXAmzContentSHA256Mismatch is 400 XAmzContentSHA256Mismatch.
func ErrXAmzContentSHA256Mismatch(client, computed string) *Error {
	return newError(CodeXAmzContentSHA256Mismatch, http.StatusBadRequest,
		"The provided 'x-amz-content-sha256' header does not match what was computed.",
		Field{"ClientComputedContentSHA256", client}, Field{"S3ComputedContentSHA256", computed})
}

// ErrInvalidRequest is 400 InvalidRequest.
func ErrInvalidRequest(msg string) *Error {
	return newError(CodeInvalidRequest, http.StatusBadRequest, msg)
}

// ErrRequestTimeTooSkewed is 403 RequestTimeTooSkewed.
func ErrRequestTimeTooSkewed(requestTime string, now time.Time) *Error {
	return newError(CodeRequestTimeTooSkewed, http.StatusForbidden,
		"The difference between the request time and the current time is too large.",
		Field{"RequestTime", requestTime},
		Field{"ServerTime", now.UTC().Format(serverTimeFormat)},
		Field{"MaxAllowedSkewMilliseconds", strconv.FormatInt(MaxClockSkew.Milliseconds(), 10)})
}

// ErrBadDigest is 400 BadDigest: the body does not match the checksum alg
// ("CRC32", "SHA256", "Content-MD5", ...) the client declared.
func ErrBadDigest(alg string) *Error {
	if alg == "Content-MD5" {
		return newError(CodeBadDigest, http.StatusBadRequest,
			"The Content-MD5 you specified did not match what we received.")
	}
	return newError(CodeBadDigest, http.StatusBadRequest,
		"The "+alg+" you specified did not match the calculated checksum.")
}

// ErrInvalidDigest is 400 InvalidDigest: a declared checksum is not even
// well-formed.
func ErrInvalidDigest(msg string) *Error {
	return newError(CodeInvalidDigest, http.StatusBadRequest, msg)
}

// ErrIncompleteBody is 400 IncompleteBody; detail names what was short.
func ErrIncompleteBody(detail string) *Error {
	msg := "The request body terminated unexpectedly"
	if detail != "" {
		msg += ": " + detail
	}
	return newError(CodeIncompleteBody, http.StatusBadRequest, msg)
}

// ErrMalformedTrailer is 400 MalformedTrailerError.
func ErrMalformedTrailer(detail string) *Error {
	return newError(CodeMalformedTrailerError, http.StatusBadRequest,
		"The request contained trailing data that was not well-formed or did not conform to our published schema. "+detail)
}

// ErrMissingContentLength is 411 MissingContentLength.
func ErrMissingContentLength() *Error {
	return newError(CodeMissingContentLength, http.StatusLengthRequired,
		"You must provide the Content-Length HTTP header.")
}

// ErrRequestTimeout is 400 RequestTimeout: the client stopped sending the
// body, or sent it too slowly, and S3 closes the connection.
func ErrRequestTimeout() *Error {
	return newError(CodeRequestTimeout, http.StatusBadRequest,
		"Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.")
}

type xmlError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	Extra     []xmlField
	RequestID string `xml:"RequestId"`
}

type xmlField struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// WriteError renders err as S3's XML error body with its status. err should
// be an *Error (found with errors.As); anything else becomes 500
// InternalError so that internal details never reach the client.
func WriteError(w http.ResponseWriter, err error, requestID string) {
	var e *Error
	if !errors.As(err, &e) || e == nil {
		e = newError(CodeInternalError, http.StatusInternalServerError,
			"We encountered an internal error. Please try again.")
	}
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	body := xmlError{Code: e.Code, Message: e.Message, Resource: e.Resource, RequestID: requestID}
	for _, f := range e.Extra {
		if !validXMLName(f.Name) {
			continue
		}
		body.Extra = append(body.Extra, xmlField{XMLName: xml.Name{Local: f.Name}, Value: f.Value})
	}
	out, mErr := xml.Marshal(body)
	if mErr != nil {
		out = []byte("<Error><Code>" + CodeInternalError + "</Code></Error>")
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/xml")
	if requestID != "" {
		w.Header().Set("X-Amz-Request-Id", requestID)
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

// validXMLName keeps a caller-supplied Extra name from breaking the document.
func validXMLName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
