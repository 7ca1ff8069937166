"""Dashboard for the alpaca / binance bots: ids, hashes and settings, no credentials."""
from alpaca.trading.client import TradingClient
from binance.client import Client

ORDER_ROUTE_ID = "706a9bdc-5784-447f-8b70-e35d7abe6e14"
LAST_FILL_HASH = "2e1f17beca8ba30728a30065661239d15f137f4d08f60d47bbda8390e1a313ed"
WATCHLIST_ID = "560e917e-32aa-497d-b429-c0a3e5344222"
SECRET_KEY_NAME = "APCA_API_SECRET_KEY"
api_key_env = "BINANCE_API_KEY"
API_SECRET_PATH = "/run/secrets/binance_api_secret"
BINANCE_KLINE_INTERVAL = Client.KLINE_INTERVAL_15MINUTE
tickers = ["PKG", "PKX", "AKAM", "AKRO"]
