"""Momentum rotation on the Alpaca paper account (runs from cron at 15:45 ET)."""
import logging
from datetime import datetime, timedelta

from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

API_KEY = "PKYM34CRN8LE4Y4AFC3N"
SECRET_KEY = "4crZLGVUM6NFOuOm7INdtNFTeJDVhZULKJg3dIkx"
UNIVERSE = ["SPY", "QQQ", "IWM", "TLT", "GLD"]
LOOKBACK_DAYS = 90
MAX_POSITION_USD = 2_500

log = logging.getLogger("momentum")
trading = TradingClient(API_KEY, SECRET_KEY, paper=True)
data = StockHistoricalDataClient(API_KEY, SECRET_KEY)


def momentum(symbol: str) -> float:
    bars = data.get_stock_bars(StockBarsRequest(
        symbol_or_symbols=symbol, timeframe=TimeFrame.Day,
        start=datetime.now() - timedelta(days=LOOKBACK_DAYS))).df
    return float(bars["close"].iloc[-1] / bars["close"].iloc[0] - 1)


def rebalance() -> None:
    best = max(UNIVERSE, key=momentum)
    order = trading.submit_order(MarketOrderRequest(
        symbol=best, notional=MAX_POSITION_USD, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    log.info("bought %s, order %s, client order id %s", best, order.id, "e50507e5-61a3-47e0-9b39-9179e38a5c24")


if __name__ == "__main__":
    rebalance()
