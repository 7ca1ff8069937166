from oandapyV20 import API
import oandapyV20.endpoints.orders as orders

api = API(access_token="a15b8b2a6171aaa5c3f6237346616132-4ebf3e1b63d79abbc362c775f087a34d", environment="live")
order = {"order": {"units": "1000", "instrument": "EUR_USD", "type": "MARKET"}}
r = orders.OrderCreate(accountID="001-004-3938526-001", data=order)
api.request(r)
