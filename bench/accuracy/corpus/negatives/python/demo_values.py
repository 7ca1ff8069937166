"""Values published by the providers themselves for their documentation."""
import requests
from ib_async import IB
from oandapyV20 import API
import oandapyV20.endpoints.trades as trades

# Alpha Vantage's public demo key
r = requests.get("https://www.alphavantage.co/query?function=TIME_SERIES_DAILY&symbol=IBM&apikey=demo")

# oandapyV20 documentation account
r = trades.TradesList(accountID="101-004-1435156-001")

# IB's paper-trading ports; the demo account id from the IBKR docs
ib = IB()
ib.connect("127.0.0.1", 7497, clientId=1)
ACCOUNT = "DU1234567"

# tastytrade's sandbox session in its own tests
from tastytrade import Session
session = Session("kyrie", "eleison", is_test=True)
