from ib_async import IBC

ibc = IBC(1030, gateway=True, tradingMode="live", userid="rqdlp118", password="LU4rL1Ek2zUR")
ibc.start()
