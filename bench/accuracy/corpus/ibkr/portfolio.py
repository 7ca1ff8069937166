from ib_async import IB, Stock, LimitOrder

ib = IB()
ib.connect("127.0.0.1", 7497, clientId=17)

ACCOUNT = "DU4690658"
aapl = Stock("AAPL", "SMART", "USD")
ib.qualifyContracts(aapl)

order = LimitOrder("BUY", 100, 187.5)
order.account = "U2657130"
trade = ib.placeOrder(aapl, order)

for item in ib.portfolio("DU1278882"):
    print(item.contract.symbol, item.position, item.marketValue)
pnl = ib.reqPnL("U5248634")

backup = IB()
backup.connect("127.0.0.1", 4001, 18, 4, True, "U0010838")
