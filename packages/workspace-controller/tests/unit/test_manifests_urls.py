"""Tuning URLs: public http(s) hosts pass; anything reaching the node, cluster or metadata fails."""

from __future__ import annotations

import pytest

from workspace_controller.manifests.urls import unsafe_url_reason

SAFE = [
    "https://huggingface.co/datasets/philschmid/dolly-15k-oai-style/resolve/main/data/"
    "train-00000-of-00001-54e3756291ca09c6.parquet?download=true",
    "http://example.com/data.json",
    "HTTPS://Example.COM:8443/a/b.csv",
    "https://user:secret@storage.example.net/container/train.jsonl?sv=2024&sig=abc",
    "https://8.8.8.8/data.csv",
    "https://[2606:4700:4700::1111]/data.csv",
    "https://xn--bcher-kva.example/data.csv",
    "https://8.8.8.8.nip.io/data.csv",  # spells a public address
    "https://files-2024-01-02-3.example.com/data.csv",  # dashes, but not an address
    "https://v1.2.3.example.com/data.csv",
]


@pytest.mark.parametrize("url", SAFE)
def test_public_http_and_https_urls_are_allowed(url: str) -> None:
    assert unsafe_url_reason(url) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/data.csv", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("example.com/data.csv", "scheme '(none)'"),
        ("https:///data.csv", "no host"),
        ("http://localhost/data.csv", "local host"),
        ("http://LOCALHOST./data.csv", "local host"),
        ("http://api.localhost/data.csv", "local host"),
        ("http://127.0.0.1/data.csv", "loopback"),
        ("http://127.1/data.csv", "loopback"),
        ("http://2130706433/data.csv", "loopback"),  # decimal 127.0.0.1
        ("http://0x7f000001/data.csv", "loopback"),
        ("http://0177.0.0.1/data.csv", "loopback"),  # octal
        ("http://0x7f.1/data.csv", "loopback"),
        ("http://[::1]/data.csv", "loopback"),
        ("http://[::ffff:127.0.0.1]/data.csv", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/data.csv", "link-local"),
        ("http://0.0.0.0/data.csv", "unspecified"),
        ("http://0/data.csv", "unspecified"),
        ("http://10.0.0.5/data.csv", "private"),
        ("http://167772165/data.csv", "private"),  # decimal 10.0.0.5
        ("http://172.16.3.4/data.csv", "private"),
        ("http://192.168.1.1/data.csv", "private"),
        ("http://[fd00::1]/data.csv", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://2852039166/latest/meta-data/", "link-local"),  # decimal 169.254.169.254
        ("http://[fe80::1]/data.csv", "link-local"),
        ("http://[64:ff9b::a9fe:a9fe]/data.csv", "link-local"),  # NAT64 of the metadata IP
        ("http://100.100.100.200/latest/meta-data", "non-global"),  # carrier-grade NAT range
        ("http://168.63.129.16/machine", "cloud host-service"),  # Azure WireServer
        ("http://224.0.0.1/data.csv", "multicast"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://127.0.0.1.nip.io/data.csv", "loopback"),  # wildcard DNS
        ("http://data.10.0.0.5.sslip.io/data.csv", "private"),
        ("http://169-254-169-254.sslip.io/latest/meta-data/", "link-local"),
        ("http://app-192-168-1-1.nip.io/data.csv", "private"),
        ("http://metadata/computeMetadata/v1/", "metadata"),
        ("http://kubernetes.default.svc/api", "cluster-internal"),
        ("http://minio.storage.svc.cluster.local:9000/data.csv", "cluster-internal"),
        ("http://minio:9000/data.csv", "single-label"),
        (
            "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/data.csv",
            "loopback",
        ),  # fullwidth 127.0.0.1
        ("http://1.2.3.999/data.csv", "neither a valid IPv4"),
        ("http://08.1.1.1/data.csv", "neither a valid IPv4"),
        ("http://example.com:99999/data.csv", "not a valid URL"),
        ("http://127.0.0.1\\@example.com/data.csv", "backslash"),
        ("http://example.com/da ta.csv", "whitespace"),
        ("http://evil@127.0.0.1/data.csv", "loopback"),
    ],
)
def test_unsafe_urls_are_rejected_with_a_reason(url: str, reason: str) -> None:
    found = unsafe_url_reason(url)
    assert found is not None
    assert reason in found
