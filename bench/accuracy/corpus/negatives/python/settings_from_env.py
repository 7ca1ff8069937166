"""Every credential comes from the environment; nothing here is a secret."""
import os

from alpaca.trading.client import TradingClient
from binance.client import Client
from kiteconnect import KiteConnect
from oandapyV20 import API
from schwab.auth import easy_client

APCA_API_KEY_ID = os.environ["APCA_API_KEY_ID"]
APCA_API_SECRET_KEY = os.getenv("APCA_API_SECRET_KEY")
trading = TradingClient(APCA_API_KEY_ID, APCA_API_SECRET_KEY, paper=True)

binance = Client(os.environ.get("BINANCE_API_KEY"), os.environ.get("BINANCE_API_SECRET"))
oanda = API(access_token=os.environ["OANDA_ACCESS_TOKEN"], environment="practice")
kite = KiteConnect(api_key=os.environ["KITE_API_KEY"])
kite.set_access_token(os.environ["KITE_ACCESS_TOKEN"])
schwab = easy_client(os.environ["SCHWAB_APP_KEY"], os.environ["SCHWAB_APP_SECRET"],
                     "https://127.0.0.1:8182", os.path.expanduser("~/.schwab/token.json"))
TRADIER_ACCESS_TOKEN = os.environ.get("TRADIER_ACCESS_TOKEN", "")
TT_SECRET = os.environ["TT_SECRET"]
TT_REFRESH = os.environ["TT_REFRESH"]
FLEX_TOKEN = os.environ["IBKR_FLEX_TOKEN"]
IB_PORT = int(os.getenv("IB_PORT", "7497"))
