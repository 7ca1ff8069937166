import pyetrade

CONSUMER_KEY = "ab50c5c1a57c3857020d0b5e70f2010d"
CONSUMER_SECRET = "1a41bd8f53899c014b203eea25eec786b97ffad1df56cc99b1de6f88c8c41b64"

oauth = pyetrade.ETradeOAuth(CONSUMER_KEY, CONSUMER_SECRET)
print(oauth.get_request_token())
verifier = input("verifier: ")
tokens = oauth.get_access_token(verifier)

accounts = pyetrade.ETradeAccounts(
    CONSUMER_KEY, CONSUMER_SECRET, tokens["oauth_token"], tokens["oauth_token_secret"], dev=False)
print(accounts.list_accounts(resp_format="json"))
