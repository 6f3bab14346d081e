"""Content Credentials on every film: c2pa-python's own Reader finds the AI-generated source type and each shot's
model; `tale verify` passes on the film and fails in one line once a byte of its video changes; the film is signed
with Tale's local CA chain (owner-only, not self-signed) or a keyring certificate; --no-c2pa leaves it out; an
unchanged render writes nothing; without c2pa-python the render goes on and says so once."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from keyring_fakes import MemoryKeyring, using_keyring
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode
from tale_cli.film.credentials import TALE_ASSERTION, TRAINED

c2pa = pytest.importorskip("c2pa")


def render(story: Path, recipe: Path, out: Path, *extra: str) -> tuple[Path, str]:
    result = CliRunner().invoke(app, ["render", str(story), "--recipe", str(recipe), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output[-2000:]
    return next(out.iterdir()), result.output


def verify(film: Path, *extra: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["verify", str(film), *extra])


def flip_video_byte(film: Path) -> None:
    data = bytearray(film.read_bytes())
    at = data.index(b"mdat") + 64
    data[at] ^= 0x01
    film.write_bytes(bytes(data))


def test_every_film_is_signed_and_verify_fails_after_one_byte_changes(story_file, tiny_recipe, tmp_path):
    run_dir, output = render(story_file, tiny_recipe, tmp_path / "out")
    film = run_dir / "film.mp4"
    assert "Tale's local certificate" in output and "untrusted issuer" in output

    # c2pa-python's own Reader, not Tale's code.
    with c2pa.Reader(str(film)) as reader:
        assert reader.get_validation_state() == "Valid"  # valid, though no viewer trusts Tale's local CA
        active = reader.get_active_manifest()
    assertions = {item["label"]: item["data"] for item in active["assertions"]}
    created = assertions["c2pa.actions.v2"]["actions"][0]
    assert created["action"] == "c2pa.created" and created["digitalSourceType"] == TRAINED
    assert active["claim_generator_info"][0]["name"] == "Tale"
    shots = assertions[TALE_ASSERTION]["shots"]
    assert [(s["index"], s["backend"], s["model"], s["origin"]) for s in shots] == [
        (i, "preview", "animatic-1", "generated") for i in (1, 2, 3)
    ]
    assert active["signature_info"]["common_name"] == "Tale local signer"

    checked = verify(film, "--json")
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["ok"] and report["intact"] and report["trust"] == "local"
    assert report["source_type"] == TRAINED and len(report["shots"]) == 3
    recorded = json.loads((run_dir / "manifest.json").read_text())["film"]["credentials"]
    assert recorded["source"] == "local" and 0 < recorded["added_bytes"] < 20_000

    flip_video_byte(film)
    changed = verify(film)
    assert changed.exit_code == ExitCode.CREDENTIALS
    assert changed.output.strip().count("\n") == 0
    assert "was changed after it was signed" in changed.output and "bmffHash.mismatch" in changed.output

    unsigned = verify(run_dir / "shots" / "shot-01.mp4")
    assert unsigned.exit_code == ExitCode.CREDENTIALS and "carries no Content Credentials" in unsigned.output


def test_an_unchanged_render_writes_nothing_and_no_c2pa_leaves_the_credentials_out(story_file, tiny_recipe, tmp_path):
    out = tmp_path / "out"
    run_dir, _ = render(story_file, tiny_recipe, out)
    film = run_dir / "film.mp4"
    signed = film.read_bytes()
    _, again = render(story_file, tiny_recipe, out)
    assert "film unchanged" in again and film.read_bytes() == signed

    copy = tmp_path / "cut" / "copy.mp4"  # another cut of the run, elsewhere: signed as well
    recut = CliRunner().invoke(app, ["stitch", str(run_dir), "--out", str(copy), "--transition", "fade:0.25"])
    assert recut.exit_code == 0, recut.output
    with c2pa.Reader(str(copy)) as reader:
        assert reader.get_validation_state() == "Valid"
    assert film.read_bytes() == signed

    _, bare = render(story_file, tiny_recipe, out, "--no-c2pa")
    assert "Content Credentials" not in bare
    with pytest.raises(c2pa.C2paError):
        c2pa.Reader(str(film))
    assert json.loads((run_dir / "manifest.json").read_text())["film"]["c2pa"] is False
    assert verify(film).exit_code == ExitCode.CREDENTIALS


def test_the_local_chain_is_private_and_a_ca_issued_signer(story_file, tiny_recipe, tmp_path):
    from cryptography import x509

    from tale_cli.keys.signing import local_folder

    render(story_file, tiny_recipe, tmp_path / "out")
    folder = local_folder()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("ca.pem", "ca-key.pem", "signer.pem", "signer-key.pem"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    signer = x509.load_pem_x509_certificate((folder / "signer.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert signer.issuer == ca.subject != signer.subject
    assert signer.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert (
        x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION
        in signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )

    shown = CliRunner().invoke(app, ["keys", "signing", "show", "--json"])
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["source"] == "local" and json.loads(shown.stdout)["trusted_by_viewers"] is False
    assert "PRIVATE KEY" not in shown.output


def test_a_keyring_certificate_signs_and_a_self_signed_one_is_refused(story_file, tiny_recipe, tmp_path, monkeypatch):
    from tale_cli.keys.signing import _make_local_chain

    studio = tmp_path / "studio"
    _make_local_chain(studio)  # another CA and its signer, as a studio's own would be
    chain = tmp_path / "chain.pem"
    chain.write_bytes((studio / "signer.pem").read_bytes() + (studio / "ca.pem").read_bytes())
    with using_keyring(MemoryKeyring()) as memory:
        refused = CliRunner().invoke(
            app, ["keys", "signing", "import", str(studio / "ca.pem"), str(studio / "ca-key.pem")]
        )
        assert refused.exit_code == ExitCode.KEYS and "self-signed" in refused.output
        stored = CliRunner().invoke(app, ["keys", "signing", "import", str(chain), str(studio / "signer-key.pem")])
        assert stored.exit_code == 0, stored.output
        assert "PRIVATE KEY" not in stored.output

        run_dir, output = render(story_file, tiny_recipe, tmp_path / "out")
        assert "local certificate" not in output
        assert json.loads((run_dir / "manifest.json").read_text())["film"]["credentials"]["source"] == "keyring"
        report = json.loads(verify(run_dir / "film.mp4", "--json").stdout)
        assert report["ok"] and report["trust"] == "untrusted"  # the studio's CA is not on this machine's list

        anchors = tmp_path / "anchors.pem"
        anchors.write_bytes((studio / "ca.pem").read_bytes())
        monkeypatch.setenv("TALE_C2PA_TRUST_ANCHORS", str(anchors))
        assert json.loads(verify(run_dir / "film.mp4", "--json").stdout)["trust"] == "trusted"
        assert CliRunner().invoke(app, ["keys", "signing", "delete"]).exit_code == 0
        assert not memory.store


def test_without_c2pa_python_the_render_says_so_once_and_goes_on(story_file, tiny_recipe, tmp_path, monkeypatch):
    import tale_cli.film.credentials as credentials

    monkeypatch.setattr(credentials, "available", lambda: False)
    run_dir, output = render(story_file, tiny_recipe, tmp_path / "out")
    assert output.count("c2pa-python is not installed") == 1
    assert (run_dir / "film.mp4").is_file()
    assert json.loads((run_dir / "manifest.json").read_text())["film"]["credentials"] is None


def test_files_named_in_the_environment_sign_and_must_come_in_pairs(tmp_path, monkeypatch):
    from tale_cli.errors import KeysError
    from tale_cli.keys.signing import _make_local_chain, signing_identity

    studio = tmp_path / "studio"
    _make_local_chain(studio)
    monkeypatch.setenv("TALE_C2PA_CERT", str(studio / "signer.pem"))
    with pytest.raises(KeysError, match="go together"):
        signing_identity()
    monkeypatch.setenv("TALE_C2PA_KEY", str(studio / "signer-key.pem"))
    identity = signing_identity()
    assert identity is not None and identity.source == "files"
    assert "PRIVATE" not in repr(identity)
