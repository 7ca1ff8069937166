"""Pull the daily Flex statement and store it in S3."""
import time
import requests

FLEX_TOKEN = "656255668177881456790486"
QUERY_ID = "761518"
BASE = "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService"


def fetch() -> bytes:
    ref = requests.get(f"{BASE}/SendRequest", params={"t": FLEX_TOKEN, "q": QUERY_ID, "v": 3}, timeout=30)
    time.sleep(5)
    return requests.get(f"{BASE}/GetStatement", params={"t": FLEX_TOKEN, "q": ref.text, "v": 3}, timeout=30).content

# curl -A Java "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService/SendRequest?t=557643289655776008343608&q=895660&v=3"
