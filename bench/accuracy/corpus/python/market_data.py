import requests
from polygon import RESTClient
from alpha_vantage.timeseries import TimeSeries
from tiingo import TiingoClient

poly = RESTClient("zOJfYWz8gexPg6Hpaz6hEWCpBzfdxqw4")
ts = TimeSeries(key="G3J3KV5SOJ5COSQ4", output_format="pandas")
tiingo = TiingoClient({"session": True, "api_key": "ff3da7335dbe89fc9978fd9279aea11877c54dad"})


def last_close(symbol: str) -> float:
    url = f"https://api.polygon.io/v2/aggs/ticker/{symbol}/prev?apiKey=e1BMN_j6UHXMw5kj_ptEbghunDirRkOF"
    return requests.get(url, timeout=10).json()["results"][0]["c"]
