from __future__ import annotations

import pytest

from scanner import filters
from scanner.entropy import shannon_entropy
from scanner.redact import redact, redact_line


@pytest.mark.parametrize("value", ["${TWS_PASSWORD}", "{{ secrets.IB_TOKEN }}", "%(password)s", "$IB_PASS", "%IBPASS%"])
def test_templates_are_references_not_secrets(value):
    assert filters.is_templated(value)


@pytest.mark.parametrize("value", ["YOUR_PASSWORD", "changeme", "<redacted>", "xxxxxxxx", "example-token", "DUMMY123"])
def test_placeholders_are_dropped(value):
    assert filters.first_rejection(value)


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
