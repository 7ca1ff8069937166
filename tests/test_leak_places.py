"""Credentials where deployments and scripts put them, scanned as whole files.

The rule examples test each form on one line; these tests scan the files a user has
(Kubernetes manifests, ECS task definitions, Terraform, .env and compose files, Secrets
with a ``--from-file`` key, ib_async scripts, market-data dumps) through the whole
pipeline, regex and AST, and check what is reported: the whole value, once, under the
specific rule, and nothing in look-alikes.
"""
from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from scanner.rules import load_rules
from scanner.scan import ScanOptions, scan_files

RULES = load_rules()
PASSWORD = "Tw5-Zq9r-Lk2x"


def reported(root: Path) -> set[tuple[str, str, str]]:
    """(file name, rule id, secret) of every finding under ``root``."""
    here = os.getcwd()
    os.chdir(root)
    try:
        findings, _ = scan_files(["."], RULES, ScanOptions(jobs=1))
    finally:
        os.chdir(here)
    return {(Path(f.path).name, f.rule_id, f.secret) for f in findings}


def test_kubernetes_env_entries_of_oauth_and_flex_credentials(tmp_path):
    (tmp_path / "bot.yaml").write_text("""\
apiVersion: v1
kind: Pod
metadata:
  name: bot
spec:
  containers:
    - name: bot
      image: acme/ibkr-bot:1.2
      env:
        - name: IBIND_OAUTH1A_CONSUMER_KEY
          value: QZK4T9WBX
        - name: IBIND_OAUTH1A_ACCESS_TOKEN
          value: "7f3e9c1b5d24f68e0a1b"
        - name: IB_FLEX_TOKEN
          value: "496042823960820945607424"
        - name: IBIND_OAUTH1A_REALM
          value: limited_poa
""")
    assert reported(tmp_path) >= {
        ("bot.yaml", "ibkr-oauth-consumer-key", "QZK4T9WBX"),
        ("bot.yaml", "ibkr-oauth-access-token", "7f3e9c1b5d24f68e0a1b"),
        ("bot.yaml", "ibkr-flex-token", "496042823960820945607424"),
    }


def test_ecs_task_definition_environment(tmp_path):
    (tmp_path / "taskdef.json").write_text(f"""\
{{
  "family": "ib-gateway",
  "containerDefinitions": [
    {{
      "name": "gw",
      "image": "ghcr.io/gnzsnz/ib-gateway:stable",
      "environment": [
        {{"name": "TWS_USERID", "value": "mrkvst441"}},
        {{"name": "TWS_PASSWORD", "value": "{PASSWORD}"}},
        {{"name": "IBEAM_PYOTP_SECRET", "value": "2XG6FRWO3B4GHOTIIJ2ZQR74VJJU2XCK"}},
        {{"name": "TRADING_MODE", "value": "paper"}}
      ],
      "secrets": [{{"name": "VNC_SERVER_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:vnc-Qp4Lz8"}}]
    }}
  ]
}}
""")
    assert {(rule, secret) for _, rule, secret in reported(tmp_path)} == {
        ("ibkr-gateway-userid", "mrkvst441"),
        ("ibkr-gateway-password", PASSWORD),
        ("ibkr-ibeam-totp-secret", "2XG6FRWO3B4GHOTIIJ2ZQR74VJJU2XCK"),
    }


def test_terraform_jsonencode_and_yaml_flow_environment(tmp_path):
    (tmp_path / "ecs.tf").write_text(f"""\
resource "aws_ecs_task_definition" "gw" {{
  family = "ib-gateway"
  container_definitions = jsonencode([{{
    name  = "gw"
    image = "ghcr.io/gnzsnz/ib-gateway:stable"
    environment = [
      {{ name = "TWS_PASSWORD", value = "{PASSWORD}" }},
      {{ name = "TWS_USERID", value = var.tws_userid }},
    ]
  }}])
}}
""")
    (tmp_path / "pod.yaml").write_text(f"""\
spec:
  containers:
    - name: gw
      env:
        - {{name: TWS_PASSWORD, value: "{PASSWORD}"}}
        - {{name: VNC_SERVER_PASSWORD, value: Hq3vRm8wZp}}
""")
    assert reported(tmp_path) == {
        ("ecs.tf", "ibkr-gateway-password", PASSWORD),
        ("pod.yaml", "ibkr-gateway-password", PASSWORD),
        ("pod.yaml", "ibkr-gateway-vnc-password", "Hq3vRm8wZp"),
    }


@pytest.mark.parametrize(("name", "text", "secret"), [
    (".env", "TWS_PASSWORD=Kq9,zLm2Vx7p  # live\n", "Kq9,zLm2Vx7p"),
    ("docker-compose.yml", "services:\n  gw:\n    environment:\n      - TWS_PASSWORD=Kq9;zLm2Vx7p\n", "Kq9;zLm2Vx7p"),
    ("pod.yaml", "env:\n  - name: TWS_PASSWORD\n    value: Kq9(zLm2)Vx7p\n", "Kq9(zLm2)Vx7p"),
    ("ibc.ini", "IbLoginId=omyowj510\nIbPassword=Rt5\\Gk8{Nw2}Zp\n", "Rt5\\Gk8{Nw2}Zp"),
])
def test_unquoted_config_values_keep_punctuation(tmp_path, name, text, secret):
    (tmp_path / name).write_text(text)
    passwords = {s for _, rule, s in reported(tmp_path) if rule in ("ibkr-gateway-password", "ibkr-ibc-password")}
    assert passwords == {secret}


@pytest.mark.parametrize(("name", "text"), [
    ("connect.py", "import getpass\nTWS_PASSWORD=getpass.getpass()\nIbPassword=read_secret(path)\n"),
    ("start.sh", "export TWS_PASSWORD=$(cat /run/secrets/tws_password)\n"),
    ("env.js", "const env = {TWS_PASSWORD: process.env.TWS_PASSWORD}\nconst o = {TWS_PASSWORD: secrets.tws,\n}\n"),
    ("render.py", 'env_file.write(f"TWS_PASSWORD={password}\\n")\nenv = dict(TWS_PASSWORD=tws_secret)\n'),
])
def test_code_that_only_passes_a_password_along_is_not_reported(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    assert reported(tmp_path) == set()


def test_kubernetes_secret_with_a_dotted_from_file_key_is_decoded(tmp_path):
    """``kubectl create secret generic --from-file=.env`` makes the key ``.env``."""
    env = f"TWS_USERID=mrkvst441\nTWS_PASSWORD={PASSWORD}\n"
    (tmp_path / "secret.yaml").write_text(f"""\
apiVersion: v1
kind: Secret
metadata:
  name: ibgw
type: Opaque
data:
  .env: {base64.b64encode(env.encode()).decode()}
""")
    assert reported(tmp_path) == {
        ("secret.yaml", "ibkr-gateway-userid", "mrkvst441"),
        ("secret.yaml", "ibkr-gateway-password", PASSWORD),
    }


def test_readme_placeholders_of_the_gateway_images_are_not_reported(tmp_path):
    (tmp_path / ".env-dist").write_text(
        "TWS_USERID=myTwsAccountName\nTWS_PASSWORD=myTwsPassword\n"
        "VNC_SERVER_PASSWORD=myVncPassword\nIBEAM_ACCOUNT=U1234567\nIBEAM_ACCOUNT=DU1234567\n")
    assert reported(tmp_path) == set()


def test_a_quoted_value_with_an_escaped_quote_is_reported_and_masked_whole(tmp_path):
    """JSON escapes a quote inside a value: the finding is the whole value, so the
    report's masked snippet shows none of its tail."""
    (tmp_path / "creds.json").write_text('{"tws_password": "Nq7v\\"Zp2mXw9Lk"}\n')
    assert reported(tmp_path) == {("creds.json", "ibkr-gateway-password", 'Nq7v\\"Zp2mXw9Lk')}
    # this checkout's scanner, whatever ``brokerscan`` on PATH is installed from
    result = subprocess.run([sys.executable, "-m", "scanner", "dir", ".", "--no-config", "-j", "1"], cwd=tmp_path,
                            capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    assert result.returncode == 1, result.stderr
    assert b"ibkr-gateway-password" in result.stdout
    assert b"Zp2m" not in result.stdout and b"w9Lk" not in result.stdout


def test_ib_async_flex_report_download_with_a_literal_token(tmp_path):
    (tmp_path / "flex.py").write_text(
        "from ib_async import FlexReport\n"
        "report = FlexReport()\n"
        'report.download("496042823960820945607424", "734512")\n')
    assert reported(tmp_path) == {("flex.py", "ibkr-flex-token", "496042823960820945607424")}


def test_polygon_tick_data_is_not_a_flex_request(tmp_path):
    """Polygon v2 ticks carry "t" (a nanosecond timestamp as a JSON number) beside "q"."""
    (tmp_path / "trades.json").write_text(
        '{"ticker":"AAPL","results":[\n'
        '{"t":1517562000016036581,"y":1517562000015577000,"q":1063,"i":"1","x":11,"s":100,"p":171.55,"z":3},\n'
        '{"t":1517562000016038670,"y":1517562000015577600,"q":1064,"i":"2","x":11,"s":100,"p":171.55,"z":3}\n'
        ']}\n')
    assert reported(tmp_path) == set()


def test_every_account_of_a_json_list_and_the_java_order_setter(tmp_path):
    (tmp_path / "accounts.json").write_text('{"accounts": ["U4829173", "DU7305518"]}\n')
    (tmp_path / "Orders.java").write_text(
        'public class Orders {\n    void place(Order o) { o.account("DF2098344"); }\n}\n')
    assert reported(tmp_path) == {
        ("accounts.json", "ibkr-account-id", "U4829173"),
        ("accounts.json", "ibkr-account-id", "DU7305518"),
        ("Orders.java", "ibkr-account-id-api", "DF2098344"),
    }
