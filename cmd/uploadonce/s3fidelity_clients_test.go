package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/client"
)

// These tests run the clients most users have, boto3 and the AWS CLI,
// against serve, one per behaviour issue 13 found broken.

// awsCLIRegion runs the AWS CLI against base signed for region.
func awsCLIRegion(t *testing.T, aws, base, region string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(aws, append([]string{"--endpoint-url", base}, args...)...)
	cmd.Env = append(awsEnv("uploadonce-secret"), "AWS_DEFAULT_REGION="+region)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestAWSCLIOtherRegion: with AWS_DEFAULT_REGION=eu-west-1, a common
// setting, the AWS CLI signs for the wrong region; S3 answers 400 with
// x-amz-bucket-region and the CLI retries in us-east-1.
func TestAWSCLIOtherRegion(t *testing.T) {
	aws := requireTool(t, "aws", "--version")
	base := serveForTest(t, "--strategy", "versioning")
	dir := t.TempDir()
	src := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(src, []byte("regional bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := awsCLIRegion(t, aws, base, "us-east-1", "s3", "cp", src, "s3://uploadonce/r/in.txt", "--no-progress"); err != nil {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	back := filepath.Join(dir, "back.txt")
	for _, args := range [][]string{
		{"s3", "cp", "s3://uploadonce/r/in.txt", back, "--no-progress"},
		{"s3api", "head-object", "--bucket", "uploadonce", "--key", "r/in.txt"},
		{"s3api", "head-bucket", "--bucket", "uploadonce"},
		{"s3", "cp", src, "s3://uploadonce/r/in2.txt", "--no-progress"},
	} {
		if out, err := awsCLIRegion(t, aws, base, "eu-west-1", args...); err != nil {
			t.Errorf("eu-west-1 %v: %v\n%s", args, err, out)
		}
	}
	if got, err := os.ReadFile(back); err != nil || string(got) != "regional bytes" {
		t.Errorf("downloaded %q, %v", got, err)
	}
}

// TestAWSCLIPutBucketCors: aws s3api put-bucket-cors sends the integrity
// header S3 requires (a CRC32 checksum), which the emulator now demands and
// checks, and get-bucket-cors reads the rules back.
func TestAWSCLIPutBucketCors(t *testing.T) {
	aws := requireTool(t, "aws", "--version")
	base := serveForTest(t, "--strategy", "versioning")
	const cfg = `{"CORSRules":[{"AllowedOrigins":["http://localhost:3000"],"AllowedMethods":["PUT","POST"],"AllowedHeaders":["*"]}]}`
	if out, err := awsCLIRegion(t, aws, base, "us-east-1", "s3api", "put-bucket-cors", "--bucket", "uploadonce", "--cors-configuration", cfg); err != nil {
		t.Fatalf("put-bucket-cors: %v\n%s", err, out)
	}
	out, err := awsCLIRegion(t, aws, base, "us-east-1", "s3api", "get-bucket-cors", "--bucket", "uploadonce", "--output", "json")
	if err != nil {
		t.Fatalf("get-bucket-cors: %v\n%s", err, out)
	}
	var got struct {
		CORSRules []struct{ AllowedOrigins, AllowedMethods []string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.CORSRules) != 1 ||
		fmt.Sprint(got.CORSRules[0].AllowedOrigins, got.CORSRules[0].AllowedMethods) != "[http://localhost:3000] [PUT POST]" {
		t.Errorf("get-bucket-cors = %s (%v)", out, err)
	}
}

// TestAWSCLICopiesAcceptedObject: the versioning strategy's accepted copy
// has a Last-Modified, so aws s3 cp of accepted/<name> works.
func TestAWSCLICopiesAcceptedObject(t *testing.T) {
	aws := requireTool(t, "aws", "--version")
	base := serveForTest(t, "--strategy", "versioning", "--api-key", "k")
	c := client.New(base+"/Prod/getpresignedurl", "k", 1)
	ctx := context.Background()
	g, err := c.Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Upload(ctx, g, []byte("accepted bytes")); err != nil || res.Status != 204 {
		t.Fatalf("upload %+v %v", res, err)
	}
	name := strings.TrimPrefix(g.Key, "uploads/")
	back := filepath.Join(t.TempDir(), "accepted.bin")
	var out string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if out, err = awsCLIRegion(t, aws, base, "us-east-1", "s3", "cp", "s3://uploadonce/accepted/"+name, back, "--no-progress"); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("aws s3 cp accepted/%s: %v\n%s", name, err, out)
	}
	if got, _ := os.ReadFile(back); string(got) != "accepted bytes" {
		t.Fatalf("accepted copy %q", got)
	}
}

// boto3Fidelity checks, with boto3's defaults (flexible checksums on),
// each behaviour that broke boto3. It prints one line per check: "ok NAME"
// or "FAIL NAME: why".
const boto3Fidelity = `
import sys, base64, boto3, botocore, botocore.config
from botocore.exceptions import ClientError
endpoint = sys.argv[1]
def client(region="us-east-1"):
    return boto3.client("s3", endpoint_url=endpoint, region_name=region,
        aws_access_key_id="uploadonce", aws_secret_access_key="uploadonce-secret")
s3 = client()
b = "uploadonce"
def check(name, f):
    try:
        why = f()
        print(("FAIL %s: %s" % (name, why)) if why else ("ok " + name))
    except Exception as e:
        print("FAIL %s: %s %s" % (name, type(e).__name__, e))

big = bytes(range(256)) * 4096
put = s3.put_object(Bucket=b, Key="f/big", Body=big, Metadata={"Owner": "me"}, CacheControl="max-age=5", ContentLanguage="en")
check("put echoes crc32", lambda: None if put.get("ChecksumCRC32") else put)
check("put echoes sha256", lambda: None if s3.put_object(Bucket=b, Key="f/s", Body=b"x", ChecksumAlgorithm="SHA256").get("ChecksumSHA256") else "none")
def ranged():
    got = s3.get_object(Bucket=b, Key="f/big", Range="bytes=100-199")["Body"].read()
    return None if got == big[100:200] else got
check("ranged get", ranged)
def download():
    s3.download_file(b, "f/big", sys.argv[2])
    return None if open(sys.argv[2], "rb").read() == big else "bytes differ"
check("download_file", download)
def not_modified():
    etag = s3.head_object(Bucket=b, Key="f/big")["ETag"]
    try:
        s3.get_object(Bucket=b, Key="f/big", IfNoneMatch=etag)
    except ClientError as e:
        return None if e.response["ResponseMetadata"]["HTTPStatusCode"] == 304 else e
    return "no 304"
check("304", not_modified)
def if_match():
    try:
        s3.get_object(Bucket=b, Key="f/big", IfMatch='"0000"')
    except ClientError as e:
        return None if e.response["Error"]["Code"] == "PreconditionFailed" else e.response["Error"]
    return "200"
check("if-match 412", if_match)
def metadata():
    h = s3.head_object(Bucket=b, Key="f/big")
    want = ({"owner": "me"}, "max-age=5", "en", "binary/octet-stream")
    got = (h.get("Metadata"), h.get("CacheControl"), h.get("ContentLanguage"), h.get("ContentType"))
    return None if got == want else got
check("metadata", metadata)
def error_body():
    try:
        s3.get_object(Bucket=b, Key="f/none")
    except ClientError as e:
        err, meta = e.response["Error"], e.response["ResponseMetadata"]
        ok = err.get("Code") == "NoSuchKey" and err.get("Key") == "f/none" and err.get("Message") and \
            meta.get("RequestId") and meta["HTTPHeaders"].get("content-type") == "application/xml"
        return None if ok else (err, meta)
    return "found"
check("error body", error_body)
def copy_version():
    v1 = s3.put_object(Bucket=b, Key="f/v", Body=b"one", ContentDisposition="inline")["VersionId"]
    s3.put_object(Bucket=b, Key="f/v", Body=b"two")
    s3.copy_object(Bucket=b, Key="f/w", CopySource={"Bucket": b, "Key": "f/v", "VersionId": v1},
        MetadataDirective="REPLACE", Metadata={"k": "v"})
    o = s3.get_object(Bucket=b, Key="f/w")
    got = (o["Body"].read(), o.get("Metadata"), o.get("ContentDisposition"))
    return None if got == (b"one", {"k": "v"}, None) else got
check("copy version replace", copy_version)
def delete_marker():
    s3.delete_object(Bucket=b, Key="f/v")
    try:
        s3.get_object(Bucket=b, Key="f/v")
    except ClientError as e:
        h = e.response["ResponseMetadata"]["HTTPHeaders"]
        return None if h.get("x-amz-delete-marker") == "true" else h
    return "found"
check("delete marker", delete_marker)
def other_region():
    h = client("eu-west-1").head_object(Bucket=b, Key="f/big")
    return None if h["ContentLength"] == len(big) else h
check("eu-west-1 client", other_region)
def crc64nvme(data):
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x9a6c9329ac4bc9b5 if crc & 1 else 0)
    return base64.b64encode((crc ^ 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")).decode()
def default_checksum():
    plain = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="uploadonce", aws_secret_access_key="uploadonce-secret",
        config=botocore.config.Config(request_checksum_calculation="when_required"))
    body = b"no checksum sent" * 100
    put = plain.put_object(Bucket=b, Key="f/plain", Body=body)
    h = plain.head_object(Bucket=b, Key="f/plain", ChecksumMode="ENABLED")
    want = crc64nvme(body)
    got = (put.get("ChecksumCRC64NVME"), h.get("ChecksumCRC64NVME"), h.get("ChecksumType"), h.get("ChecksumCRC32"))
    return None if got == (want, want, "FULL_OBJECT", None) else (got, want)
check("default crc64nvme", default_checksum)
def bucket_cors():
    rules = [{"AllowedOrigins": ["http://localhost:3000"], "AllowedMethods": ["PUT", "POST"], "AllowedHeaders": ["*"]}]
    s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": rules})
    got = s3.get_bucket_cors(Bucket=b)["CORSRules"]
    return None if [(r["AllowedOrigins"], r["AllowedMethods"]) for r in got] == [(["http://localhost:3000"], ["PUT", "POST"])] else got
check("put bucket cors", bucket_cors)
`

func TestBoto3S3Fidelity(t *testing.T) {
	py := requireBoto3(t)
	base := serveForTest(t, "--strategy", "versioning")
	cmd := exec.Command(py, "-c", boto3Fidelity, base, filepath.Join(t.TempDir(), "download.bin"))
	cmd.Env = awsEnv("uploadonce-secret")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("boto3: %v\n%s\n%s", err, out, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 13 {
		t.Errorf("%d checks ran, want 13:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "ok ") {
			t.Error(l)
		}
	}
}

// boto3Multipart uploads a file with upload_file in 5 MiB parts (boto3's
// defaults add CRC32, so the upload is COMPOSITE) and prints what
// head_object with checksum mode enabled answers, and the ETag
// CompleteMultipartUpload answered, as JSON.
const boto3Multipart = `
import sys, json, boto3
from boto3.s3.transfer import TransferConfig
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
    aws_access_key_id="uploadonce", aws_secret_access_key="uploadonce-secret")
cfg = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
s3.upload_file(sys.argv[2], "uploadonce", "f/multipart", Config=cfg)
h = s3.head_object(Bucket="uploadonce", Key="f/multipart", ChecksumMode="ENABLED")
v = s3.list_object_versions(Bucket="uploadonce", Prefix="f/multipart")["Versions"]
print(json.dumps({"ETag": h["ETag"], "ChecksumCRC32": h.get("ChecksumCRC32"), "ChecksumType": h.get("ChecksumType"),
    "ListedETag": v[0]["ETag"] if v else None}))
`

// TestBoto3S3FidelityMultipart: a 12 MiB upload_file in 5 MiB parts
// is stored as S3 stores it: ETag md5(part MD5s)-3 in HEAD and in the
// version listing, and head_object with ChecksumMode=ENABLED gives the
// COMPOSITE CRC32 (CRC32 of the parts' CRC32s, -3), both computed here.
func TestBoto3S3FidelityMultipart(t *testing.T) {
	py := requireBoto3(t)
	base := serveForTest(t, "--strategy", "versioning")
	data := make([]byte, 12<<20)
	_, _ = rand.Read(data)
	src := filepath.Join(t.TempDir(), "12mb.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	partMD5s, partCRCs := md5.New(), crc32.NewIEEE()
	for off := 0; off < len(data); off += 5 << 20 {
		part := data[off:min(off+5<<20, len(data))]
		sum := md5.Sum(part)
		partMD5s.Write(sum[:])
		_ = binary.Write(partCRCs, binary.BigEndian, crc32.ChecksumIEEE(part))
	}
	wantETag := fmt.Sprintf(`"%x-3"`, partMD5s.Sum(nil))
	wantCRC := base64.StdEncoding.EncodeToString(partCRCs.Sum(nil)) + "-3"

	cmd := exec.Command(py, "-c", boto3Multipart, base, src)
	cmd.Env = awsEnv("uploadonce-secret")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("boto3: %v\n%s\n%s", err, out, stderr.String())
	}
	var got struct{ ETag, ChecksumCRC32, ChecksumType, ListedETag string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("boto3 printed %q: %v", out, err)
	}
	if got.ETag != wantETag || got.ListedETag != wantETag {
		t.Errorf("head_object ETag %s, listed %s; want %s", got.ETag, got.ListedETag, wantETag)
	}
	if got.ChecksumCRC32 != wantCRC || got.ChecksumType != "COMPOSITE" {
		t.Errorf("head_object ChecksumCRC32 %q ChecksumType %q; want %q COMPOSITE", got.ChecksumCRC32, got.ChecksumType, wantCRC)
	}
}
