"""The AST stage on its own: names, values, fallbacks, gating, and what reports carry."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from scanner.ast import detector as detector_module
from scanner.ast.names import classify_name, is_credential_metadata
from scanner.ast.tree import TreeDocument
from scanner.ast.values import rejection
from scanner.models import Blob, Provenance, ScanStats
from scanner.rules import load_rules
from scanner.scan import BlobScanner, ScanOptions

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "ast"
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
RULES = load_rules([ROOT / "rules" / "ast.toml", FIXTURES / "naive-regex.toml"], bundled=False)


def scan(text: str, path: str, rules=RULES, **options):
    stats = ScanStats()
    findings = BlobScanner(rules, ScanOptions(**options)).scan_blob(Blob(text.encode(), Provenance("file", path)), stats)
    return [(f.location.line, f.rule_id, "+".join(f.detectors), f.secret) for f in findings], stats


@pytest.mark.parametrize("name, kind, ibkr", [
    ("password", "password", False), ("TWS_PASSWORD", "password", True), ("IbPassword", "password", True),
    ("TWS_PASSWORD_PAPER", "password", True), ("FIXPassword", "password", True), ("db_pass", "password", False),
    ("apiKey", "secret", False), ("consumer_key", "secret", False), ("IBEAM_KEY", "secret", True),
    ("IBEAM_PYOTP_SECRET", "secret", True), ("IBIND_OAUTH1A_ACCESS_TOKEN_SECRET", "secret", True),
    ("accessToken", "token", False), ("FLEX_TOKEN", "token", True), ("dh_prime", "secret", False),
    ("account_id", "account", False), ("IBIND_ACCOUNT_ID", "account", True),
])
def test_credential_names(name, kind, ibkr):
    found = classify_name(name)
    assert found is not None and (found.kind, found.ibkr) == (kind, ibkr)


@pytest.mark.parametrize("name", [
    "token_type", "pad_token", "eos_token", "TWS_PASSWORD_FILE", "password_prompt", "use_password", "secret_name",
    "IBEAM_SECRETS_SOURCE", "client_key_id", "key", "tokenizer", "IBEAM_ACCOUNT", "num_tokens", "pass",
])
def test_names_that_are_not_credentials(name):
    assert classify_name(name) is None


def test_metadata_names_are_told_apart_from_unrelated_ones():
    assert is_credential_metadata("token_type") and is_credential_metadata("TWS_PASSWORD_FILE")
    assert not is_credential_metadata("password") and not is_credential_metadata("color")


@pytest.mark.parametrize("kind, value, reason", [
    ("password", "hunter2-Real", None),
    ("password", "changeme", "placeholder"),
    ("password", "${DB_PASSWORD}", "template"),
    ("password", "Log in with it", "prose"),
    ("password", "/run/secrets/tws_password", "path"),
    ("password", "TWS_PASSWORD", "variable"),
    ("password", "$ANSIBLE_VAULT;1.1;AES256", "secret-store"),
    ("token", "bearer", "common"),
    ("token", "mytradingkey", "weak"),
    ("secret", "-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----", "truncated"),
    ("account", "U4829173", None),
    ("account", "trader7", "account"),
])
def test_value_checks(kind, value, reason):
    got = rejection(kind, value)
    assert (got is None) if reason is None else (got is not None and reason in got), got


def test_parse_error_falls_back_to_regex_only_and_is_counted():
    found, stats = scan('def broken(:\n    password = "Pe7-Kq9z-Lm2"\n', "broken.py")
    assert found == [(2, "naive-credential", "regex", "Pe7-Kq9z-Lm2")]
    assert stats.notes == {"ast: parse error, regex only": 1}


def test_missing_grammar_falls_back_and_dockerfile_uses_the_line_reader(monkeypatch):
    monkeypatch.setattr(detector_module, "parser_for", lambda name: None)
    found, stats = scan('password = os.environ["X"]\ntoken = "Mg7-Kq9z-Lm2x"\n', "app.py")
    assert [f[3] for f in found] == ["os.environ[", "Mg7-Kq9z-Lm2x"]  # exactly what regex alone says
    assert stats.notes == {"ast: no grammar for python, regex only": 1}
    found, stats = scan("FROM alpine\nENV API_TOKEN Dk7Zq2Lm9Xv4Rt8w\n", "Dockerfile")
    assert found == [(2, "hardcoded-credential", "ast", "Dk7Zq2Lm9Xv4Rt8w")]
    assert stats.notes == {"ast: no grammar for dockerfile, line reader used": 1}


def test_a_detector_bug_never_loses_regex_findings(monkeypatch):
    def explode(self, offsets):
        raise RuntimeError("bug")

    monkeypatch.setattr(TreeDocument, "bindings", explode)
    found, stats = scan('password = "Bg4-Kq9z-Lm2"\n', "app.py")
    assert found == [(1, "naive-credential", "regex", "Bg4-Kq9z-Lm2")]
    assert stats.notes == {"ast: files parsed": 1, "ast: internal error, regex only": 1}


def test_large_files_stay_regex_only(monkeypatch):
    monkeypatch.setattr(detector_module, "MAX_PARSE_BYTES", 100)
    found, stats = scan('token = os.getenv("X")\n' + "#" * 200 + "\n", "big.py")
    assert [f[3] for f in found] == ["os.getenv("]
    assert stats.notes == {"ast: file too large, regex only": 1}


def test_minified_script_bundles_stay_regex_only():
    """A bundle of 32 kB or more with lines averaging over 1,000 bytes is never parsed (the
    parse costs ~0.5 s per MB): the regex findings stay as the engine reported them, and the
    same code laid out by a person, or a one-line JSON document, is still parsed."""
    padding = "".join(f"var a{i}=function(e){{return e+{i}}};" for i in range(1500))  # ~50 kB, one line
    code = 'const db_password=process.env.DB_PASS;const cfg={password:"Bg4-Kq9z-Lm2"};'
    ast_only = load_rules([ROOT / "rules" / "ast.toml"], bundled=False)

    found, stats = scan(padding + code + "\n", "dist/app.min.js")
    assert [f[1:] for f in found] == [("naive-credential", "regex", "process.env.DB_PASS"),
                                      ("naive-credential", "regex", "Bg4-Kq9z-Lm2")]
    assert stats.notes == {"ast: minified, regex only": 1}
    assert scan(padding + code + "\n", "dist/app.min.js", ast_only)[0] == []

    laid_out = padding.replace(";", ";\n") + code.replace(";", ";\n")
    found, stats = scan(laid_out, "src/app.js")
    assert [f[1:] for f in found] == [("naive-credential", "regex+ast", "Bg4-Kq9z-Lm2")]  # the env lookup: dropped
    assert stats.notes["ast: files parsed"] == 1

    document = json.dumps({"padding": padding, "password": "Bg4-Kq9z-Lm2"})
    found, stats = scan(document, "settings.json", ast_only)
    assert [f[1:] for f in found] == [("hardcoded-credential", "ast", "Bg4-Kq9z-Lm2")]


def test_only_files_with_a_keyword_and_a_literal_are_parsed():
    ast_only = load_rules([ROOT / "rules" / "ast.toml"], bundled=False)
    _, stats = scan("def f(x):\n    return x + 1\n", "plain.py", ast_only)
    assert stats.notes == {}
    _, stats = scan("password = read_password()\nprint(password)\n", "noliteral.py", ast_only)
    assert stats.notes == {}  # a keyword, but no literal after it and no regex match: not parsed
    _, stats = scan('password = "Gt5-Kq9z-Lm2"\n', "literal.py", ast_only)
    assert stats.notes == {"ast: files parsed": 1}
    _, stats = scan("password = read_password()  # no literal, but the regex matched\n", "judged.py")
    assert stats.notes == {"ast: files parsed": 1, "ast: regex match on code, dropped": 1}


def test_unquoted_name_used_nowhere_else_is_downgraded_not_dropped():
    found, stats = scan("TOTP_SECRET=JBSWY3DPEHPK3PXQ\n", "pasted.py")
    assert found == [(1, "naive-credential", "regex", "JBSWY3DPEHPK3PXQ")]
    assert stats.notes == {"ast: files parsed": 1, "ast: regex match on a bare name, downgraded": 1}


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("BROKERSCAN_AST", "0")
    found, stats = scan('token = os.getenv("X")\nif password == "x": pass\nHEADERS = {"X-Api-Key": "Hk4s8Lq2Zx7Vm3Kp"}\n',
                        "app.py")
    assert [f[3] for f in found] == ["os.getenv("]
    assert stats.notes == {}


def test_grammars_load_lazily():
    code = ("import sys, scanner.cli, scanner.scan\n"
            "print(sorted(m for m in sys.modules if m.startswith('tree_sitter')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_reports_detectors_and_confidence_in_json_and_sarif(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    (tmp_path / "main.go").write_text('package main\n\nfunc f() {\n\tpassword := "Go5-Lq2m-Zk9r"\n\t_ = password\n}\n')
    result = run_cli("dir", ".", "--no-config", "-f", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["rule_id"] == "hardcoded-credential"]
    assert (finding["line"], finding["detectors"]) == (4, ["ast"]) and 0 < finding["confidence"] < 1
    result = run_cli("dir", ".", "--no-config", "-f", "sarif", cwd=tmp_path)
    sarif = json.loads(result.stdout)
    jsonschema.validate(sarif, SCHEMA)
    [res] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "hardcoded-credential"]
    assert res["properties"]["detectors"] == ["ast"] and res["properties"]["confidence"] == finding["confidence"]
    assert "Go5-Lq2m-Zk9r" not in result.stdout.decode()


def test_cli_min_confidence_filters_downgraded_matches(tmp_path):
    (tmp_path / "auth.py").write_text('if password == "hunter2-Real":\n    pass\n')
    rules = str(FIXTURES / "naive-regex.toml")
    everything = run_cli("dir", ".", "--no-config", "--rules", rules, "-f", "json", cwd=tmp_path)
    [finding] = json.loads(everything.stdout)["findings"]
    assert finding["confidence"] == 0.45
    filtered = run_cli("dir", ".", "--no-config", "--rules", rules, "-f", "json", "--min-confidence", "0.5",
                       cwd=tmp_path)
    assert filtered.returncode == 0 and json.loads(filtered.stdout)["findings"] == []


def test_documentation_files_are_not_parsed_and_their_matches_are_downgraded():
    found, stats = scan('Set `password = "Dc4-Kq9z-Lm2"` in your config.\n', "README.md")
    assert found == [(1, "naive-credential", "regex", "Dc4-Kq9z-Lm2")]
    assert stats.notes == {"ast: regex match in documentation, downgraded": 1}
    code, _ = scan('password = "Dc4-Kq9z-Lm2"\n', "app.py")
    findings = BlobScanner(RULES, ScanOptions()).scan_blob(
        Blob(b'Set `password = "Dc4-Kq9z-Lm2"`.\n', Provenance("file", "docs/README.md")), ScanStats())
    assert findings[0].confidence < 0.7 and code[0][2] == "regex+ast"


def test_regex_match_on_a_value_the_ast_rejects_is_downgraded():
    stats = ScanStats()
    findings = BlobScanner(RULES, ScanOptions()).scan_blob(
        Blob(b'client_password = "DEADBEEF-0001"\n', Provenance("file", "app.py")), stats)
    [finding] = findings
    assert finding.detectors == ("regex",) and finding.confidence == 0.45
    assert stats.notes["ast: regex match on a value the AST rejects, downgraded"] == 1


@pytest.mark.parametrize("source, possible", [
    (b'from ib_async import FlexReport\nFlexReport("482917305518207394615023", "734512")\n', True),
    (b'import ib_async\nib.connect("127.0.0.1", 7497, clientId=1, account="DU7305518")\n', True),
    (b'import ib_async\nib.connect("127.0.0.1", 7497, 1, 4, False, "DU7305518")\n', True),  # account by position
    (b'import ib_async\nib.connect(host(), 7497)\n', True),  # nested call: cannot tell without parsing
    (b'import ib_async\nib.connect("127.0.0.1", 7497, clientId=1)\n', False),  # no account argument
    (b'import ib_async\ndef connect(self, host="127.0.0.1", port=7497, account=""):\n', False),
    (b'import ib_async\nib.portfolio(account)\n', False),  # a variable, not a literal
    (b"import ib_async\nib.reqPnL(account, '')\n", False),  # an empty string binds nothing
    (b'import ib_async\nib.reqPnL("", account="U4829173")\n', True),
    (b"import ib_async\nib.reqPnL('U4829173', '')\n", True),
    (b'ib.connect("127.0.0.1", 7497, 1, 4, False, "DU7305518")\n', False),  # no client library named
])
def test_library_files_are_parsed_only_where_a_client_call_could_hold_a_literal(source, possible):
    """A library's own history mentions it in every file: the gate reads call arguments."""
    from scanner.ast import ibkr

    assert ibkr.literal_client_call_possible(source) is possible


def test_client_calls_are_found_alike_with_and_without_hyperscan(monkeypatch):
    """``callee(`` positions come from one Hyperscan pass where it is installed, else from a
    ``find`` loop per callee: the same sites either way, the first 200 of each callee."""
    from scanner.ast import ibkr
    from scanner.prefilter import hyperscan_available

    if not hyperscan_available():
        pytest.skip("hyperscan not installed on this platform")
    assert ibkr._callee_finder() is not None
    source = (b"import ib_async, ibflex\n" + b"ib.reqPnL('U4829173', '')\n" * (ibkr.MAX_CALLS_LOOKED_AT + 5)
              + b"ib.reqPnLSingle('U4829173', '', 8314)\ndef connect(host='h', account='DU7305518'):\n"
              + b"x.IBC(976, userid='edemo')\nib.connect('127.0.0.1', 7496, 17, 4, False, 'DU7305518')\n"
              + b"download('482917305518207394615023', 734512)\nIbkrClient(account_id='U4829173')\n")
    calls = [call for call in ibkr.CLIENT_CALLS.values() if ibkr.mentions(call, source)]
    with_hyperscan = ibkr._callee_positions(source, calls), ibkr.client_call_sites(source)
    monkeypatch.setattr(ibkr, "_finder", None)
    assert (ibkr._callee_positions(source, calls), ibkr.client_call_sites(source)) == with_hyperscan
    positions = dict(zip((call.callee for call in calls), with_hyperscan[0]))
    assert len(positions["reqPnL"]) == ibkr.MAX_CALLS_LOOKED_AT and len(positions["reqPnLSingle"]) == 1
    assert "IbkrClient" not in positions  # ibind is not named: its calls are not looked for


ALPACA_KEY_ID, ALPACA_SECRET = "PKR7XM2QJ4VZ9LTN3WB8", "g3bxoL65d2WT4dWxsU7J6pZkxCip60UGDXKblq4F"


@pytest.mark.parametrize("path, source", [
    ("Program.cs", (f'using Alpaca.Markets;\nvar client = Environments.Paper.GetAlpacaTradingClient('
                    f'new SecretKey("{ALPACA_KEY_ID}", "{ALPACA_SECRET}"));\n')),
    ("bot.py", f'from alpaca.common import Credentials\ncreds = Credentials("{ALPACA_KEY_ID}", "{ALPACA_SECRET}")\n'),
    ("bot.js", (f'const Alpaca = require("@alpacahq/alpaca-trade-api");\n'
                f'const creds = new Credentials("{ALPACA_KEY_ID}", "{ALPACA_SECRET}");\n')),
])
def test_a_constructor_named_after_a_secret_takes_the_secret_not_its_name(path, source):
    """``new SecretKey("PK...", "...")`` holds the key; only a lookup's first argument is a name."""
    found, stats = scan(source, path, rules=load_rules())
    assert {f[3] for f in found} == {ALPACA_KEY_ID, ALPACA_SECRET}
    assert "ast: regex match on an env var name, dropped" not in stats.notes


@pytest.mark.parametrize("path, source", [
    ("bot.py", f'import alpaca\nkey_id = secrets_client.get_secret_value("{ALPACA_KEY_ID}")\n'),
    ("bot.py", f'import alpaca\nkey_id = keyring.get_password("{ALPACA_KEY_ID}")\n'),
    ("bot.js", f'const Alpaca = require("@alpacahq/alpaca-trade-api");\nconst id = await vault.read("{ALPACA_KEY_ID}");\n'),
    ("Bot.cs", f'using Alpaca.Markets;\nvar id = await secretClient.GetSecretAsync("{ALPACA_KEY_ID}");\n'),
    ("bot.py", f'import alpaca\nkey_id = st.secrets["{ALPACA_KEY_ID}"]\n'),
])
def test_the_name_passed_to_a_secret_store_lookup_is_dropped(path, source):
    found, stats = scan(source, path, rules=load_rules())
    assert found == [] and stats.notes["ast: regex match on an env var name, dropped"] == 1


@pytest.mark.parametrize("path, source", [
    ("de.json", '{"login": {"password": "Passwort", "secret": "Geheimnis"}}\n'),
    ("fr.yaml", "login:\n  password: Motdepasse\n  token: Jeton\n"),
    ("config/locales/es.yml", "es:\n  password: Contraseña\n"),
    ("src/i18n/fr-FR.json", '{"password": "Mot de passe"}\n'),
    ("src/main/resources/messages_de.properties", "login.password=Passwort\n"),
    ("app/lang/ru/auth.php", "<?php\nreturn ['password' => 'Пароль'];\n"),
])
def test_translated_labels_in_translation_catalogues_are_silent(path, source):
    assert scan(source, path, rules=load_rules())[0] == []


@pytest.mark.parametrize("path, source, secret", [
    ("config.yaml", "db:\n  password: Motdepasse\n", "Motdepasse"),  # a weak password, not a label
    ("settings.json", '{"login": {"password": "Passwort"}}\n', "Passwort"),
    ("app_dev.yaml", "db:\n  password: Geheimnis\n", "Geheimnis"),
    ("ca.json", '{"password": "Geheimnis"}\n', "Geheimnis"),
    ("de.json", '{"login": {"password": "Geheim-Kq9z-2024"}}\n', "Geheim-Kq9z-2024"),  # a digit: not a label
    ("/home/u/lang/ib-bot/deploy/prod/config.yaml", "db:\n  password: Motdepasse\n", "Motdepasse"),  # the checkout's folder
])
def test_weak_passwords_outside_translation_labels_are_reported(path, source, secret):
    assert [f[3] for f in scan(source, path, rules=load_rules())[0]] == [secret]
