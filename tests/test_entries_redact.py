"""Redaction at ingest: each kind of secret, in text, logfmt and JSON, and nowhere outside the pod."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from sidecar.entries.ingest import IngestConfig
from sidecar.hub import Hub
from sidecar.lines import LogLine
from sidecar.ops.metrics import Metrics
from tests.support.sse import StreamClient

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
# (rule, line, secret): each secret is fake but has the real shape.
SECRETS = [
    ("jwt", f"INFO session {JWT} opened", JWT),
    ("authorization", "DEBUG header Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    ("bearer", "DEBUG calling api with bearer s3cr3tT0kenValue123", "s3cr3tT0kenValue123"),
    ("aws-access-key-id", "INFO using key AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE"),
    ("aws-secret-access-key", "INFO aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("github-token", "WARN pushing with ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
    ("gitlab-token", "WARN clone with glpat-xY9zAbCdEfGhIjKlMn12", "glpat-xY9zAbCdEfGhIjKlMn12"),
    ("slack-token", "INFO notify xoxb-123456789012-abcdefghijkl", "xoxb-123456789012-abcdefghijkl"),
    ("slack-token", "INFO webhook https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX", "XXXXsecretXXXX"),
    ("google-api-key", "INFO maps key AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"),
    ("url-credentials", "INFO connecting to postgres://app:Pa55w0rdDb@db:5432/orders", "Pa55w0rdDb"),
    ("secret", "ERROR login failed password=hunter2tooEasy user=bob", "hunter2tooEasy"),
    ("secret", 'level=warn msg="retry" client_secret="quoted value here"', "quoted value here"),
    ("secret", '{"level":"info","msg":"cfg","db":{"password":"jsonPa55word"}}', "jsonPa55word"),
    ("secret", "INFO api_key: abcdef0123456789xyz", "abcdef0123456789xyz"),
]
PEM = [
    "ERROR bad config, key follows",
    "-----BEGIN RSA PRIVATE KEY-----",
    "MIIEowIBAAKCAQEAsecretPemBodyLineOne",
    "c2VjcmV0UGVtQm9keUxpbmVUd28",
    "-----END RSA PRIVATE KEY-----",
]
PEM_SECRETS = ["MIIEowIBAAKCAQEAsecretPemBodyLineOne", "c2VjcmV0UGVtQm9keUxpbmVUd28"]


def ingest(texts: list[str], **config: object) -> tuple[list[LogLine], Metrics]:
    metrics = Metrics()
    hub = Hub(metrics, 10_000, 10_000_000, 1000, ingest=IngestConfig(**config))
    hub.add_source("a", "file", "/logs/a.log")
    lines = [LogLine("a", text, time.time()) for text in texts]
    hub.publish("a", lines)
    return lines, metrics


@pytest.mark.parametrize(("rule", "text", "secret"), SECRETS, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(SECRETS)])
def test_each_kind_of_secret_is_replaced_by_its_rule(rule: str, text: str, secret: str) -> None:
    (line,), metrics = ingest([text])
    assert secret not in line.text
    assert f"[REDACTED:{rule}]" in line.text
    assert metrics.registry.get_sample_value("log_sidecar_redactions_total", {"source": "a", "rule": rule}) >= 1
    if line.fields is not None:  # structured lines stay parseable, the secret gone from the fields too
        assert secret not in bytes(line.fields).decode()


def test_a_pem_block_is_redacted_across_lines_and_joins_its_entry() -> None:
    lines, metrics = ingest([*PEM, "INFO next"])
    assert [line.text for line in lines[1:4]] == ["[REDACTED:pem]"] * 3
    assert lines[4].text == "[REDACTED:pem]" and lines[5].text == "INFO next"
    assert {line.entry for line in lines[1:5]} == {lines[1].id} and lines[5].entry == lines[5].id  # one entry: the block
    assert metrics.registry.get_sample_value("log_sidecar_redactions_total", {"source": "a", "rule": "pem"}) == 1


def test_a_pem_block_split_across_batches_is_still_redacted() -> None:
    metrics = Metrics()
    hub = Hub(metrics, 1000, 10_000_000, 1000)
    hub.add_source("a", "file", "/logs/a.log")
    batches = [[LogLine("a", text, time.time())] for text in PEM]
    for batch in batches:
        hub.publish("a", batch)
    assert not any(secret in line.text for batch in batches for line in batch for secret in PEM_SECRETS)


def test_plain_lines_are_left_alone_and_redaction_can_be_off() -> None:
    texts = ["INFO tokens=5 used", "INFO user=bob logged in", "DEBUG cache hit ratio 0.93", "password"]
    lines, _ = ingest(texts)
    assert [line.text for line in lines] == texts
    lines, _ = ingest([SECRETS[0][1]], redact=False)
    assert JWT in lines[0].text


def test_own_rules_replace_their_group_or_whole_match() -> None:
    lines, metrics = ingest(
        ["INFO card 4111-1111-1111-1111 charged", "INFO ssn=123-45-6789"],
        redact_patterns=(("card", r"\b\d{4}-\d{4}-\d{4}-\d{4}\b"), ("ssn", r"ssn=(\d{3}-\d{2}-\d{4})")),
    )
    assert [line.text for line in lines] == ["INFO card [REDACTED:card] charged", "INFO ssn=[REDACTED:ssn]"]


def test_no_secret_leaves_the_pod(sidecar, tmp_path: Path) -> None:
    """Every kind of secret written to a followed file, then every output grepped for it."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_bytes(b"")
    server = sidecar({"LOG_SIDECAR_FILES": str(logs / "*.log"), "LOG_SIDECAR_LOG_LEVEL": "debug",
                      "LOG_SIDECAR_COUNT": "errors=(?i)error"})
    live = StreamClient(server.url, {"tail": 0}).start()
    with open(logs / "app.log", "a") as file:
        for _, text, _ in SECRETS:
            file.write(text + "\n")
        file.write("\n".join(PEM) + "\nINFO done\n")
    live.until_line("INFO done")
    first_id = live.lines()[0]["id"]
    resumed = StreamClient(server.url, headers={"Last-Event-ID": str(first_id - 1)}).start()
    resumed.until_line("INFO done")
    outputs = {
        "live stream": json.dumps(live.lines()),
        "resumed stream": json.dumps(resumed.lines()),
        "text stream": _text_stream(server.url),
        "history": httpx.get(server.url + "/api/lines", params={"limit": 1000}).text,
        "history grep": httpx.get(server.url + "/api/lines", params={"grep": "REDACTED"}).text,
        "download": httpx.get(server.url + "/api/download").text,
        "metrics": httpx.get(server.url + "/metrics").text,
        "sources": httpx.get(server.url + "/api/sources").text,
    }
    live.close()
    resumed.close()
    server.stop()
    outputs["sidecar stdout/stderr"] = "".join(server.output)
    assert "[REDACTED:" in outputs["download"]
    secrets = [secret for _, _, secret in SECRETS] + PEM_SECRETS
    leaks = [(name, secret) for name, text in outputs.items() for secret in secrets if secret in text]
    assert leaks == []


def _text_stream(url: str) -> str:
    reader = StreamClient(url, {"tail": 1000, "format": "text"}).start()
    reader.wait(lambda: any("INFO done" in str(event.data) for event in reader.events), "INFO done in text format")
    reader.close()
    return "\n".join(str(event.data) for event in reader.events)
