"""`tale publish`: a run's files to an S3 server on 127.0.0.1 (moto, every signature checked) or a local folder,
sent once, with signed links that download the same bytes and carry the asked time limit."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, quote, urlencode, urlsplit

import pytest
from conftest import STORY
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode
from tale_cli.pipeline.publish import PART_BYTES, open_store, parse_destination, publish_refusal, signed_link

pytest.importorskip("obstore")
pytest.importorskip("moto.server")

from s3_server import REGION, S3Server, s3_server

BUCKET = "films"


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    with s3_server(BUCKET) as running:
        yield running


@pytest.fixture
def aws(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The test server's user in the environment (the chain's first link); nothing else of the machine's AWS setup."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_S3",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    server.requests.clear()
    server.refuse.clear()
    server.clock_offset_s = 0.0
    return server


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-shot preview run: film.mp4, film.srt, review.html and the shots it shows."""
    root = tmp_path_factory.mktemp("publish")
    story = root / "story.md"
    story.write_text(STORY.replace("title: The Small Test\n", "title: The Small Test\nshots: 2\n"))
    recipe = root / "tiny.toml"
    recipe.write_text('width = 160\nheight = 96\nfps = 12\nseconds = 1\n[video]\nbackend = "preview"\n')
    result = CliRunner().invoke(app, ["render", str(story), "-r", str(recipe), "-o", str(root / "out"), "--json"])
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["run_dir"])


@pytest.fixture
def run_dir(rendered: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(rendered, copy)
    return copy


def publish(*args: str, code: int = 0) -> dict:
    result = CliRunner().invoke(app, ["publish", *args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code == 0 else {"output": result.output}


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_publish_sends_once_and_the_links_download_the_same_bytes(run_dir: Path, aws: S3Server) -> None:
    first = publish(str(run_dir), "--to", f"s3://{BUCKET}/runs/one", "--expires", "12h", "--what", "film,srt")

    assert [item["name"] for item in first["files"]] == ["film.mp4", "film.srt"]
    assert first["sent"] == 2 and first["expires_s"] == 12 * 3600
    assert aws.writes() == ["/films/runs/one/film.mp4", "/films/runs/one/film.srt"]
    for item in first["files"]:
        query = parse_qs(urlsplit(item["url"]).query)
        assert query["X-Amz-Expires"] == ["43200"] and "X-Amz-Signature" in query
        assert urlsplit(item["url"]).path == f"/{BUCKET}/runs/one/{item['name']}"
        assert download(item["url"]) == (run_dir / item["name"]).read_bytes()
    assert aws.secret_key not in json.dumps(first)

    aws.requests.clear()
    second = publish(str(run_dir), "--to", f"s3://{BUCKET}/runs/one", "--expires", "30m", "--what", "film,srt")

    assert second["sent"] == 0 and second["sent_bytes"] == 0
    assert aws.writes() == [] and aws.count("HEAD") == 2  # looked at, nothing sent
    assert all(parse_qs(urlsplit(item["url"]).query)["X-Amz-Expires"] == ["1800"] for item in second["files"])

    (run_dir / "film.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nChanged.\n", encoding="utf-8")
    aws.requests.clear()
    third = publish(str(run_dir), "--to", f"s3://{BUCKET}/runs/one", "--what", "film,srt")
    assert [item["name"] for item in third["files"] if item["sent"]] == ["film.srt"]
    assert aws.writes() == ["/films/runs/one/film.srt"]
    assert download(third["files"][1]["url"]) == (run_dir / "film.srt").read_bytes()


def test_the_default_is_film_and_subtitles_for_seven_days_and_the_cli_prints_the_links(
    run_dir: Path, aws: S3Server
) -> None:
    result = CliRunner().invoke(app, ["publish", str(run_dir), "--to", f"s3://{BUCKET}/runs/default"])

    assert result.exit_code == 0, result.output
    links = [line for line in result.output.splitlines() if line.startswith("http://")]
    assert len(links) == 2 and all("X-Amz-Expires=604800" in link for link in links)
    assert download(links[0]) == (run_dir / "film.mp4").read_bytes()
    assert "2 of 2 file(s) sent" in result.output and "links work for 7d" in result.output


def test_a_signed_link_is_checked_and_expires(run_dir: Path, aws: S3Server) -> None:
    report = publish(str(run_dir), "--to", f"s3://{BUCKET}/runs/short", "--expires", "30m", "--what", "srt")
    url = report["files"][0]["url"]
    assert download(url) == (run_dir / "film.srt").read_bytes()
    for bad in (url.replace("X-Amz-Expires=1800", "X-Amz-Expires=3600"), url.replace("/film.srt?", "/film.mp4?")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            download(bad)
        assert refused.value.code == 403
    aws.clock_offset_s = 30 * 60 - 60  # a minute before the link runs out
    assert download(url) == (run_dir / "film.srt").read_bytes()
    aws.clock_offset_s = 30 * 60 + 1
    with pytest.raises(urllib.error.HTTPError) as expired:
        download(url)
    assert expired.value.code == 403


def test_a_large_film_goes_up_in_parts_and_a_stopped_publish_sends_only_what_is_missing(
    run_dir: Path, aws: S3Server
) -> None:
    film = run_dir / "film.mp4"
    film.write_bytes(film.read_bytes() * (2 * PART_BYTES // film.stat().st_size + 2))
    aws.refuse.add("/films/runs/big/film.srt")

    failed = publish(str(run_dir), "--to", f"s3://{BUCKET}/runs/big", code=ExitCode.KEYS)

    assert "refused the credentials (AccessDenied)" in failed["output"]
    parts = [path for method, path in aws.requests if method == "PUT" and path == "/films/runs/big/film.mp4"]
    assert len(parts) >= 3  # a multipart upload: one PUT a part
    aws.refuse.clear()
    aws.requests.clear()

    again = publish(str(run_dir), "--to", f"s3://{BUCKET}/runs/big")

    assert [item["name"] for item in again["files"] if item["sent"]] == ["film.srt"]
    assert aws.writes() == ["/films/runs/big/film.srt"]
    assert download(again["files"][0]["url"]) == film.read_bytes()


def test_a_refused_part_aborts_the_upload_and_leaves_nothing_behind(run_dir: Path, aws: S3Server) -> None:
    import boto3

    film = run_dir / "film.mp4"
    film.write_bytes(film.read_bytes() * (2 * PART_BYTES // film.stat().st_size + 2))
    aws.refuse.add("/films/runs/parts/film.mp4?partNumber=2")

    failed = publish(str(run_dir), "--to", f"s3://{BUCKET}/runs/parts", "--what", "film", code=ExitCode.KEYS)

    assert "refused the credentials (AccessDenied)" in failed["output"]
    assert ("DELETE", "/films/runs/parts/film.mp4") in aws.requests  # the multipart upload aborted
    s3 = boto3.client("s3", endpoint_url=aws.endpoint, region_name=REGION)
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/parts/").get("KeyCount") == 0


def test_the_review_page_goes_with_the_files_it_shows(run_dir: Path, aws: S3Server) -> None:
    report = publish(str(run_dir), "--to", f"s3://{BUCKET}/runs/review", "--what", "review")

    names = [item["name"] for item in report["files"]]
    assert names[0] == "review.html" and "film.mp4" in names and "shots/shot-01.mp4" in names
    assert all((run_dir / name).is_file() for name in names)
    page = next(item for item in report["files"] if item["name"] == "review.html")
    assert download(page["url"]) == (run_dir / "review.html").read_bytes()


def test_wrong_credentials_are_one_line_without_the_secret(run_dir: Path, aws: S3Server, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-0123456789")

    for debug in ([], ["--debug"]):
        result = CliRunner().invoke(app, [*debug, "publish", str(run_dir), "--to", f"s3://{BUCKET}/runs/bad"])

        assert result.exit_code == ExitCode.KEYS
        assert "refused the credentials (HTTP 403)" in result.output
        assert "not-the-secret" not in result.output and aws.writes() == []
    assert "Traceback" in result.output


def test_a_missing_bucket_is_one_line(run_dir: Path, aws: S3Server) -> None:
    result = CliRunner().invoke(app, ["publish", str(run_dir), "--to", "s3://no-such-bucket/films"])

    assert result.exit_code == ExitCode.OUTPUT
    assert result.output.startswith("error: cannot publish to s3://no-such-bucket/films: NoSuchBucket")


def test_a_private_or_sealed_run_needs_yes(run_dir: Path, aws: S3Server) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["run"]["private"] = True
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert publish_refusal(run_dir) is not None

    refused = publish(str(run_dir), "--to", f"s3://{BUCKET}/runs/private", code=ExitCode.PRIVACY)
    assert "is not published: it is private" in refused["output"] and "--yes" in refused["output"]
    assert aws.requests == []

    assert publish(str(run_dir), "--to", f"s3://{BUCKET}/runs/private", "--yes")["sent"] == 2

    manifest["run"] = {**manifest["run"], "private": False, "sealed": True}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    sealed = publish(str(run_dir), "--to", f"file://{run_dir.parent}/out", code=ExitCode.PRIVACY)
    assert "it is sealed" in sealed["output"]
    manifest["run"]["sealed"] = False
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert publish_refusal(run_dir) is None
    (run_dir / "seal.json").write_text("{}")
    assert publish_refusal(run_dir) == "it is sealed"
    (run_dir / "seal.json").unlink()
    (run_dir / "manifest.json").write_bytes(b"age-encryption.org/v1 not json")
    unreadable = publish(str(run_dir), "--to", f"file://{run_dir.parent}/out", code=ExitCode.PRIVACY)
    assert "whether it is private cannot be told" in unreadable["output"]
    assert not (run_dir.parent / "out").exists()


def test_a_local_folder_gets_copies_once_with_links_that_do_not_expire(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "handed over"

    first = publish(str(run_dir), "--to", target.as_uri(), "--what", "film,srt,review")

    assert first["expires_s"] is None and first["sent"] == len(first["files"])
    for item in first["files"]:
        assert item["url"] == (target / item["name"]).as_uri()
        assert (target / item["name"]).read_bytes() == (run_dir / item["name"]).read_bytes()
    before = {item["name"]: (target / item["name"]).stat().st_mtime_ns for item in first["files"]}

    second = publish(str(run_dir), "--to", target.as_uri(), "--what", "film,srt,review")

    assert second["sent"] == 0
    assert {name: (target / name).stat().st_mtime_ns for name in before} == before
    result = CliRunner().invoke(app, ["publish", str(run_dir), "--to", target.as_uri()])
    assert result.exit_code == 0 and "links do not expire (a local folder)" in result.output


def test_a_draft_run_hands_over_its_draft_and_a_run_without_a_film_is_refused(run_dir: Path, tmp_path: Path) -> None:
    (run_dir / "film.mp4").rename(run_dir / "film.draft.mp4")
    (run_dir / "film.srt").rename(run_dir / "film.draft.srt")

    report = publish(str(run_dir), "--to", (tmp_path / "drafts").as_uri())

    assert [item["name"] for item in report["files"]] == ["film.draft.mp4", "film.draft.srt"]
    (run_dir / "film.draft.mp4").unlink()
    refused = publish(str(run_dir), "--to", (tmp_path / "drafts").as_uri(), code=ExitCode.INPUT)
    assert "has no film yet" in refused["output"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--to", "ftp://host/dir"], "cannot publish to 'ftp://host/dir'"),
        (["--to", "s3:///prefix"], "names no bucket"),
        (["--to", "s3://films/a/../b"], "'..' part"),
        (["--to", "file://relative/dir"], "is not a local folder"),
        (["--to", "s3://films/x", "--expires", "8d"], "longer than a signed link can last (7 days)"),
        (["--to", "s3://films/x", "--expires", "soon"], "is not a time limit"),
        (["--to", "s3://films/x", "--what", "film,poster"], "--what 'poster' is not a kind of file"),
    ],
)
def test_bad_options_are_one_line(run_dir: Path, args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["publish", str(run_dir), *args])

    assert result.exit_code == ExitCode.INPUT and says in result.output


def test_not_a_run_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["publish", str(tmp_path), "--to", "s3://films/x"])
    assert result.exit_code == ExitCode.INPUT and "not a run folder" in result.output


def test_gs_destinations_parse_and_need_google_credentials(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = parse_destination("gs://my-bucket/films/2026")
    assert (target.scheme, target.bucket, target.key("film.mp4")) == ("gs", "my-bucket", "films/2026/film.mp4")
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_SERVICE_ACCOUNT", "GOOGLE_SERVICE_ACCOUNT_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_PATH", "/nonexistent/account.json")

    result = CliRunner().invoke(app, ["publish", str(run_dir), "--to", "gs://my-bucket/films"])

    assert result.exit_code == ExitCode.KEYS
    assert (
        "no usable credentials for gs://my-bucket/films" in result.output
        and "GOOGLE_APPLICATION_CREDENTIALS" in result.output
    )


def test_credentials_come_from_an_aws_profile(run_dir: Path, aws: S3Server, tmp_path: Path, monkeypatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[publisher]\naws_access_key_id = {aws.access_key}\naws_secret_access_key = {aws.secret_key}\n"
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "publisher")

    report = publish(str(run_dir), "--to", f"s3://{BUCKET}/runs/profile", "--what", "film")

    assert report["sent"] == 1 and download(report["files"][0]["url"]) == (run_dir / "film.mp4").read_bytes()


def test_no_aws_credentials_anywhere_is_one_line(run_dir: Path, aws: S3Server, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to ask for

    result = CliRunner().invoke(app, ["publish", str(run_dir), "--to", f"s3://{BUCKET}/runs/none"])

    assert result.exit_code == ExitCode.KEYS and "no AWS credentials found" in result.output
    assert aws.requests == []


def test_a_gs_link_is_signed_here_with_the_service_account_and_carries_the_asked_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Google Cloud Storage emulator on the package index speaks obstore's API, so the link is checked alone:
    signed without a request (the token URL answers nothing), verified with the account's public key."""
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account = tmp_path / "account.json"
    account.write_text(json.dumps({"type": "service_account", "project_id": "films", "private_key_id": "k1",
                                   "private_key": pem, "client_email": "publisher@films.iam.gserviceaccount.com",
                                   "client_id": "1", "token_uri": "http://127.0.0.1:9/token"}))  # fmt: skip
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_SERVICE_ACCOUNT", "GOOGLE_SERVICE_ACCOUNT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_PATH", str(account))
    target = parse_destination("gs://my-films/runs/cat")

    url = signed_link(open_store(target), target.key("film.mp4"), timedelta(hours=12))

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    assert (parts.netloc, parts.path) == ("storage.googleapis.com", "/my-films/runs/cat/film.mp4")
    assert query["X-Goog-Expires"] == "43200" and query["X-Goog-Credential"].startswith("publisher@films")
    signature = bytes.fromhex(query.pop("X-Goog-Signature"))
    canonical = "\n".join(["GET", parts.path, urlencode(sorted(query.items()), quote_via=quote),
                            f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"])  # fmt: skip
    scope = query["X-Goog-Credential"].split("/", 1)[1]
    to_sign = "\n".join(
        ["GOOG4-RSA-SHA256", query["X-Goog-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    private.public_key().verify(signature, to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_without_the_extra_one_line_says_what_to_install(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "obstore", None)
    monkeypatch.setitem(sys.modules, "obstore.store", None)

    result = CliRunner().invoke(app, ["publish", str(run_dir), "--to", "s3://films/x"])

    assert result.exit_code == ExitCode.MISSING_DEPENDENCY
    assert "pip install 'tale-cli[publish]'" in result.output
