"""Every redaction pattern: what it must replace (exact output) and look-alikes it must keep."""

from __future__ import annotations

import pytest

from codelm.data.config import PIIConfig
from codelm.data.pii import redact, shannon_entropy

GH_TOKEN = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
PAT = "github_pat_" + "A1b2C3d4E5f6G7h8I9j0K1" + "_" + "x" * 21 + "Y7z8" * 9 + "Q3"  # 22 + 59 chars
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq\n-----END RSA PRIVATE KEY-----"

REDACTED = [
    # emails
    ("# Author: Jane Doe <jane.doe@python.org>", "# Author: Jane Doe <<EMAIL>>", {"EMAIL": 1}),
    ("contact = 'ops+alerts@mail.example.co.uk'", "contact = '<EMAIL>'", {"EMAIL": 1}),
    ("Written by mal@lemburg.com.", "Written by <EMAIL>.", {"EMAIL": 1}),
    # public IPv4 / IPv6
    ('host = "93.184.216.34"', 'host = "<IP_ADDRESS>"', {"IP_ADDRESS": 1}),
    ("ping 151.101.1.69 and 140.82.112.3", "ping <IP_ADDRESS> and <IP_ADDRESS>", {"IP_ADDRESS": 2}),
    ("addr = '2606:4700:4700::1111'", "addr = '<IP_ADDRESS>'", {"IP_ADDRESS": 1}),
    ("ipv6 2001:4860:4860:0:0:0:0:8888 dns", "ipv6 <IP_ADDRESS> dns", {"IP_ADDRESS": 1}),
    # keys and tokens
    ("AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE'", "AWS_ACCESS_KEY_ID = '<KEY>'", {"KEY": 1}),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = <KEY>", {"KEY": 1}),
    (f"GITHUB_TOKEN={GH_TOKEN}", "GITHUB_TOKEN=<KEY>", {"KEY": 1}),
    (f"pat: {PAT}", "pat: <KEY>", {"KEY": 1}),
    (f"slack = '{SLACK}'", "slack = '<KEY>'", {"KEY": 1}),
    ("url = 'https://hooks.slack.com/services/T0ABC1DEF/B0GHI2JKL/abcDEF123ghiJKL456'", "url = '<KEY>'", {"KEY": 1}),
    (f'KEY = """{PEM}"""', 'KEY = """<KEY>"""', {"KEY": 1}),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----", "<KEY>", {"KEY": 1}),
    ('api_key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"', 'api_key = "<KEY>"', {"KEY": 1}),
    ("client_secret: 'a8f5f167f44f4964e6c998dee827110c'", "client_secret: '<KEY>'", {"KEY": 1}),
    # passwords
    ('password = "hunter2x"', 'password = "<PASSWORD>"', {"PASSWORD": 1}),
    ("DB_PASSWD: 'Tr0ub4dor&3'", "DB_PASSWD: '<PASSWORD>'", {"PASSWORD": 1}),
    ("connect(user, pwd='s3cr3tPass')", "connect(user, pwd='<PASSWORD>')", {"PASSWORD": 1}),
    # several kinds at once, counted separately
    (
        "# bob@corp.io deploys to 8.26.56.26 with token='9f8e7d6c5b4a39281706ab'",
        "# <EMAIL> deploys to <IP_ADDRESS> with token='<KEY>'",
        {"EMAIL": 1, "IP_ADDRESS": 1, "KEY": 1},
    ),
]

KEPT = [
    # email look-alikes
    "y = x@w.weight",  # matrix product with an attribute
    "@property\ndef name(self): ...",
    "user@localhost",
    "send to someone@example.com or a@b.test",  # reserved example domains
    "git@github.com:org/repo.git",  # a VCS remote, not a person
    "fmt = '%s@%s' % (user, host)",
    # IPv4 look-alikes: private, loopback, documentation, version-like, networks
    "bind('192.168.1.10'); bind('10.0.0.1'); bind('127.0.0.1'); bind('172.16.5.4')",
    "see 192.0.2.1 and 198.51.100.7 and 203.0.113.9",  # RFC 5737 documentation ranges
    '__version__ = "2.7.18.1"',
    "requires foo==1.24.3.2 and v3.10.12.4",
    "section 8.2.4.44 of the spec; release 3.1.1.6",
    "1.2.3.4.5 is not an address",
    "net = IPv4Network('224.0.0.0/4'); route = '93.184.216.0/24'",
    "dns = '8.8.8.8'",  # well-known resolver: first three numbers single digits
    "'1.0.0.127.in-addr.arpa'",
    # IPv6 look-alikes
    "std::vector<int> v; a::b::c",
    "ip = '::1'; ll = 'fe80::1'; doc = '2001:db8::1'; ula = 'fd00::1'",
    "mac = '00:1a:2b:3c:4d:5e'; t = '12:30:45'",
    "dead::beef",
    # key / password look-alikes
    "AKIA_PREFIX = 'AKIA'",
    "ghp_short_token",
    'password = "password"',
    'password = "changeme"',
    "password = os.environ['PASSWORD']",
    "password = '<PASSWORD>'",  # already a placeholder: redaction is idempotent
    "password = '{password}'",
    'token_type = "authorization_code"',
    'SECRET_KEY = "SECRET_KEY"',
    'api_key = "your-api-key-here"',
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----",
]


@pytest.mark.parametrize(("text", "expected", "counts"), REDACTED)
def test_redacts(text, expected, counts):
    assert redact(text) == (expected, counts)


@pytest.mark.parametrize("text", KEPT)
def test_keeps_look_alikes(text):
    assert redact(text) == (text, {})


def test_idempotent():
    once, _ = redact(REDACTED[-1][0])
    assert redact(once) == (once, {})


def test_switches():
    text = "mail a@b.org from 93.184.216.34 with password = 'hunter2x' and key AKIAIOSFODNN7EXAMPLE"
    assert redact(text, PIIConfig(enabled=False)) == (text, {})
    assert redact(text, PIIConfig(emails=False, ip_addresses=False)) == (
        "mail a@b.org from 93.184.216.34 with password = '<PASSWORD>' and key <KEY>",
        {"KEY": 1, "PASSWORD": 1},
    )
    assert redact(text, PIIConfig(keys=False, passwords=False)) == (
        "mail <EMAIL> from <IP_ADDRESS> with password = 'hunter2x' and key AKIAIOSFODNN7EXAMPLE",
        {"EMAIL": 1, "IP_ADDRESS": 1},
    )


def test_overlapping_spans_keep_the_stronger_detector():
    # the private-key block contains what looks like an email; one <KEY> replaces the whole block
    text = "-----BEGIN PRIVATE KEY-----\nroot@corp.io\n-----END PRIVATE KEY-----"
    assert redact(text) == ("<KEY>", {"KEY": 1})


def test_shannon_entropy():
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == 2.0
