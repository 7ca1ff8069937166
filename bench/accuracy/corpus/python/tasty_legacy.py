# tastytrade 8.x bot (before OAuth)
from tastytrade import ProductionSession

session = ProductionSession("qtrader88", "uSshgCIfBt3h")
TASTYTRADE_PASSWORD = "6QVl8nE5*-Es"
