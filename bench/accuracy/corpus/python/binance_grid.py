from binance.client import Client

client = Client("jZZVcGxrdQWM1mwQlRzVkdStAmfxsrlX4u5n4pEiE6A6PuJLOUJ1PYPqERmexyIe", "CEvEydEZcjvGzvOeuANoZWEk7U8nPSHkrzi16Cdi0cxZAWqFW97caFCKkGQJUhjX")
GRID_LEVELS = 12
SYMBOL = "BTCUSDT"


def place_grid(mid: float, step: float) -> None:
    for i in range(1, GRID_LEVELS + 1):
        client.order_limit_buy(symbol=SYMBOL, quantity=0.001, price=round(mid - i * step, 2))
