"""An S3 server for tests on 127.0.0.1: moto's S3 behind a real HTTP server, checking every request's signature.

moto checks the signature of requests signed in their Authorization header (its IAM authentication, switched on
here for a user made with full S3 rights); a presigned URL (signed in its query) is checked here, with its time
limit, and then handed to moto signed in the header. Every request is counted by method and path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

REGION = "us-east-1"


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    # Writes answered 403: an object's path (every write to it), or `path?text` (those whose query holds `text`).
    refuse: set[str] = field(default_factory=set)
    clock_offset_s: float = 0.0  # how far ahead of this machine's clock the server checks a link's time limit

    def count(self, *methods: str) -> int:
        return sum(1 for method, _ in self.requests if method in methods)

    def writes(self) -> list[str]:
        return [path for method, path in self.requests if method in ("PUT", "POST")]


def _forbidden(start_response: Any, why: str) -> list[bytes]:
    body = f"<Error><Code>{why}</Code><Message>{why}</Message></Error>".encode()
    start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _presigned_valid(environ: dict[str, Any], server: S3Server) -> str | None:
    """Why a presigned request is refused (AWS SigV4 in the query string), or None when it is valid."""
    params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    signature = params.pop("X-Amz-Signature", "")
    key_id, _, scope = params.get("X-Amz-Credential", "").partition("/")
    if key_id != server.access_key:
        return "InvalidAccessKeyId"
    signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if time.time() + server.clock_offset_s > signed_at.timestamp() + int(params["X-Amz-Expires"]):
        return "AccessDenied"  # S3 says "Request has expired" under this code
    encode = lambda text: quote(text, safe="-_.~")  # noqa: E731
    query = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(params.items()))
    path = environ["RAW_URI"].split("?", 1)[0]
    canonical = "\n".join(
        [environ["REQUEST_METHOD"], path, query, f"host:{environ['HTTP_HOST']}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{server.secret_key}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, signature) else "SignatureDoesNotMatch"


def _signed_in_header(environ: dict[str, Any], server: S3Server) -> None:
    """The checked presigned request as moto takes it: the same request signed in its Authorization header."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    path = environ["RAW_URI"].split("?", 1)[0]
    request = AWSRequest(method=environ["REQUEST_METHOD"], url=f"http://{environ['HTTP_HOST']}{path}")
    S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", REGION).add_auth(request)
    environ["QUERY_STRING"] = ""
    environ["RAW_URI"] = environ["REQUEST_URI"] = path
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256"):
        environ["HTTP_" + name.upper().replace("-", "_")] = request.headers[name]


@contextmanager
def s3_server(bucket: str) -> Iterator[S3Server]:
    """moto's S3 on a free port of 127.0.0.1 with `bucket` made, for the test session; stopped and reset after."""
    from moto import settings
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.models import iam_backends
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    iam.create_user(region_name=REGION, user_name="publisher", path="/", tags=[])
    access = iam.create_access_key(user_name="publisher")
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    policy = iam.create_policy(
        description="", path="/", policy_document=json.dumps(everything), policy_name="s3-all", tags=[]
    )
    iam.attach_user_policy(policy.arn, "publisher")
    moto_app = DomainDispatcherApplication(create_backend_app)
    server = S3Server("", access.access_key_id, access.secret_access_key)
    lock = threading.Lock()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        with lock:
            server.requests.append((method, path))
        query = environ.get("QUERY_STRING", "")
        if method in ("PUT", "POST") and any(
            rule == path or (rule.startswith(path + "?") and rule[len(path) + 1 :] in query) for rule in server.refuse
        ):
            return _forbidden(start_response, "AccessDenied")
        if "X-Amz-Signature=" in query:
            why = _presigned_valid(environ, server)
            if why is not None:
                return _forbidden(start_response, why)
            _signed_in_header(environ, server)
        return moto_app(environ, start_response)

    before = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    server.endpoint = f"http://127.0.0.1:{http.server_port}"
    try:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name=REGION,
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
        ).create_bucket(Bucket=bucket)
        server.requests.clear()
        yield server
    finally:
        http.shutdown()
        thread.join(5)
        http.server_close()
        settings.INITIAL_NO_AUTH_ACTION_COUNT = before
        from moto.backends import get_backend

        get_backend("s3").reset()
        get_backend("iam").reset()
