# A verifier in another language, as a Lambda custom runtime: the Runtime
# API through the standard library, S3 through boto3 as in the reference,
# and memcached's atomic delete spoken on a socket. MODE=init-exit,
# sleep-once or crash-once (first invocation anywhere, via the MARKER file)
# exercises Lambda's failures.
import json, os, socket, sys, time, urllib.parse, urllib.request
import boto3
from botocore.config import Config

mode, marker = os.environ.get("MODE", ""), os.environ.get("MARKER", "")
if mode == "init-exit":
    sys.exit("init failed: MODE=init-exit")
api = "http://%s/2018-06-01/runtime/invocation/" % os.environ["AWS_LAMBDA_RUNTIME_API"]
s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
host, port = os.environ["MEMCACHED_ENDPOINT"].split(",")[0].rsplit(":", 1)


def claim(key):  # the caller that gets DELETED wins
    with socket.create_connection((host, int(port))) as c:
        c.sendall(b"delete " + key.encode() + b"\r\n")
        return c.recv(64).startswith(b"DELETED")


def once():  # true for the first caller of any process
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        return True
    except OSError:
        return False


while True:
    with urllib.request.urlopen(api + "next") as r:
        rid, event = r.headers["Lambda-Runtime-Aws-Request-Id"], json.load(r)
    if mode == "sleep-once" and once():
        time.sleep(60)
    if mode == "crash-once" and once():
        os._exit(2)
    try:
        for rec in event["Records"]:
            bucket = rec["s3"]["bucket"]["name"]
            key = urllib.parse.unquote_plus(rec["s3"]["object"]["key"])
            if claim(key):
                dst = "accepted/" + key.split("/", 1)[1]
                s3.copy_object(Bucket=bucket, Key=dst, CopySource={"Bucket": bucket, "Key": key})
                print("accepted", key, flush=True)
        path, body = rid + "/response", b"null"
    except Exception as e:
        path, body = rid + "/error", json.dumps({"errorType": type(e).__name__, "errorMessage": str(e)}).encode()
    urllib.request.urlopen(urllib.request.Request(api + path, data=body, method="POST")).close()
