from __future__ import annotations

import pytest

from scanner import filters
from scanner.entropy import shannon_entropy
from scanner.models import Blob, Provenance, ScanStats
from scanner.redact import redact, redact_line
from scanner.rules import load_rules
from scanner.scan import BlobScanner, ScanOptions

SCANNER = BlobScanner(load_rules(), ScanOptions())


def secrets_found(path: str, text: str) -> list[str]:
    """What a scan with the bundled rules (regex and AST) reports in one file."""
    found = SCANNER.scan_blob(Blob(text.encode(), Provenance("file", path)), ScanStats())
    return sorted({f.secret for f in found})


@pytest.mark.parametrize("value", [
    "${TWS_PASSWORD}", "{{ secrets.IB_TOKEN }}", "%(password)s", "$IB_PASS", "%IBPASS%", "#{TwsPassword}#",
    "#{Ib.TwsPassword}", "__TwsPassword__", "<%= ENV['TWS_PASSWORD'] %>",
])
def test_templates_are_references_not_secrets(value):
    assert filters.is_templated(value)


@pytest.mark.parametrize("value", ["Kq9#{Lm2", "Xq7#pRz9}#", "__Kq9Lm2", "Zr4__Tq8__", "__Wq8-Lm2!__"])
def test_passwords_with_template_characters_are_not_templates(value):
    assert filters.is_templated(value) is None


def test_scan_stays_silent_on_replacement_tokens():
    """Azure Pipelines / Octopus ``#{Name}#`` and token-replace ``__Name__`` are filled in at deploy time."""
    settings = '{"Ib": {"TwsUserId": "#{TwsUserId}#", "TwsPassword": "#{TwsPassword}#", "IbeamKey": "__IbeamKey__"}}'
    assert secrets_found("appsettings.json", settings) == []
    assert secrets_found("appsettings.json", '{"Ib": {"TwsPassword": "Kq9#{Lm2Zx7"}}') == ["Kq9#{Lm2Zx7"]


@pytest.mark.parametrize("value", [
    "YOUR_PASSWORD", "changeme", "<redacted>", "xxxxxxxx", "example-token", "DUMMY123", "your_password_here",
    "YOUR-API-KEY", "todo", "TODO", "sample-token", "insert-key-here", "replace_me", "change-me", "YourApiKeyHere",
    "enter_your_ib_password", "<your password>", "<PASSWORD>", "sk-<redacted>", "<%= ENV['TWS_PASSWORD'] %>",
])
def test_placeholders_are_dropped(value):
    assert filters.first_rejection(value)


@pytest.mark.parametrize("value", [
    "Xq7>mL2#pRz9", "Kq9<zLm2Vx7p", "Mayor-Todos-91!", "Gr8Sample7", "Wy9-Insert-Kq2", "Zr4yourTq8", "Pa<ss>9x",
    "Lm2<7q>Rz9",
])
def test_strong_passwords_with_a_bracket_or_a_placeholder_word_inside_pass(value):
    assert filters.first_rejection(value) is None


@pytest.mark.parametrize("path, text, secret", [
    (".env", "TWS_PASSWORD=Xq7>mL2#pRz9\n", "Xq7>mL2#pRz9"),
    (".env", "IBEAM_PASSWORD=Mayor-Todos-91!\n", "Mayor-Todos-91!"),
    (".env", "VNC_SERVER_PASSWORD=Gr8Sample7\n", "Gr8Sample7"),
    (".env", "IBEAM_PASSWORD=Wq8-Lm2-Zr9 # rotated monthly\n", "Wq8-Lm2-Zr9"),  # a '#' after a blank: a comment
    ("ibc/config.ini", "IbLoginId=mrkvst441\nIbPassword=Kq9<zLm2Vx7p\n", "Kq9<zLm2Vx7p"),
    ("launch.py", 'TWS_PASSWORD = "Xq7>mL2#pRz9"\n', "Xq7>mL2#pRz9"),
])
def test_scan_reports_passwords_that_merely_contain_a_placeholder_word_or_bracket(path, text, secret):
    assert secret in secrets_found(path, text)


@pytest.mark.parametrize("path, text", [
    (".env", "TWS_PASSWORD=your_password_here\nIBEAM_PASSWORD=replace_me\nVNC_SERVER_PASSWORD=todo\n"),
    ("ibc/config.ini", "IbPassword=<your password>\n"),
    ("launch.py", 'TWS_PASSWORD = "<PASSWORD>"\nIBEAM_PASSWORD = "insert-key-here"\n'),
])
def test_scan_stays_silent_on_placeholders(path, text):
    assert secrets_found(path, text) == []


@pytest.mark.parametrize("value", ["aaaaaaaa", "abababab", "123456789", "abcdefgh", "qwertyui"])
def test_repeated_and_sequential_values_are_dropped(value):
    assert filters.first_rejection(value)


@pytest.mark.parametrize("value", ["U***4567", "DUXXXXXXX", "q7R****"])
def test_masked_values_are_dropped(value):
    assert filters.first_rejection(value)


@pytest.mark.parametrize("value", ["q7Rv2LmZ8kPw", "U4829173", "JBSWY3DPEHPK3PXPQ4ZA2MIB", "Xn4vR8sQ2p"])
def test_real_looking_values_pass(value):
    assert filters.first_rejection(value) is None


def test_entropy_orders_random_above_repetitive():
    assert shannon_entropy("aaaa") == 0
    assert shannon_entropy("q7Rv2LmZ8kPw") > shannon_entropy("passwordpass") > 0


def test_redaction_keeps_a_short_prefix_only():
    assert redact("U4829173") == "U4****"  # never more than a third of the value
    assert redact("q7Rv2LmZ8kPw") == "q7R****"
    assert redact("ab") == "****"
    assert redact_line("pw = 'q7Rv2LmZ8kPw'", "q7Rv2LmZ8kPw") == "pw = 'q7R****'"
    assert redact_line("pw = 'q7Rv2LmZ8kPw'", "q7Rv2LmZ8kPw", show=True) == "pw = 'q7Rv2LmZ8kPw'"


def test_placeholder_words_inside_long_random_values_do_not_drop_them():
    key_body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCxxxq9" + "Rk2vT8wZ" * 5
    assert filters.first_rejection(key_body) is None
    assert filters.first_rejection("MIIEvQIBADANBgkqhkiG9w0B-your-key-here-AASCBKcwggSjAgEAAoIBAQC")


@pytest.mark.parametrize("value", [
    "/run/secrets/ibeam_password", "/etc/ibeam/account", "~/.ibeam/password", "C:\\ib\\secrets\\tws.txt",
    "projects/ib-bot/secrets/ibeam-password/versions/latest", "projects/ib-bot/secrets/tws_password",
    "ENC(G6N718UuyPE5bHyWKyuLQSm02auQPUtm)", "ENC[AES256_GCM,data:q7Rv2Lm,iv:Zx9,tag:Kq2,type:str]",
    "{cipher}AQBx7Kq9Lm2Zr4Tw8", "arn:aws:secretsmanager:us-east-1:123456789012:secret:ibeam-pw",
])
def test_references_to_a_secret_are_dropped(value):
    assert filters.first_rejection(value)


@pytest.mark.parametrize("value", ["Xq7/mL2#pRz9", "/Xq7mL2pRz9", "/Kq9Lm2/Zx7Rt", "Kq9/zLm2Vx7p", "ENC(Kq9 Lm2"])
def test_passwords_holding_a_slash_or_enc_pass(value):
    assert filters.first_rejection(value) is None


@pytest.mark.parametrize("path, text", [
    ("ibeam.env", ("IBEAM_SECRETS_SOURCE=fs\nIBEAM_ACCOUNT=/run/secrets/ibeam_account\n"
                   "IBEAM_PASSWORD=/run/secrets/ibeam_password\n")),
    ("ibeam-pod.yaml", ("spec:\n  containers:\n    - name: ibeam\n      env:\n        - name: IBEAM_SECRETS_SOURCE\n"
                        "          value: fs\n        - name: IBEAM_ACCOUNT\n          value: /etc/ibeam/account\n"
                        "        - name: IBEAM_PASSWORD\n          value: /etc/ibeam/password\n")),
    ("ibeam.env", ("IBEAM_SECRETS_SOURCE=gcp_secrets_manager\n"
                   "IBEAM_PASSWORD=projects/ib-bot/secrets/ibeam-password/versions/latest\n")),
    ("application.properties", "tws.userid=${TWS_USERID}\ntws.password=ENC(G6N718UuyPE5bHyWKyuLQSm02auQPUtm)\n"),
])
def test_scan_stays_silent_on_paths_and_ciphertext(path, text):
    assert secrets_found(path, text) == []


@pytest.mark.parametrize("path, text, secret", [
    ("ibeam.env", "IBEAM_PASSWORD=Kq9/zLm2Vx7p\n", "Kq9/zLm2Vx7p"),
    ("ibeam-pod.yaml", "env:\n  - name: IBEAM_PASSWORD\n    value: /Kq9Lm2/Zx7Rt\n", "/Kq9Lm2/Zx7Rt"),
    ("application.properties", "tws.password=Wq8Lm2Zr9Tx4\n", "Wq8Lm2Zr9Tx4"),
])
def test_scan_reports_passwords_next_to_those_shapes(path, text, secret):
    assert secret in secrets_found(path, text)
