import httpx
from schwab.auth import easy_client

client = easy_client(
    api_key="u1lSE1mKQRogfsOt9v0SV9gpP5r3ZdnD",
    app_secret="Y1PwkdptsJEO3sNJ",
    callback_url="https://127.0.0.1:8182",
    token_path="/home/trader/.schwab/token.json",
)

resp = client.get_account_numbers()
assert resp.status_code == httpx.codes.OK, resp.text
ACCOUNT_HASH = resp.json()[0]["hashValue"]
