import logging
from kiteconnect import KiteConnect

logging.basicConfig(level=logging.INFO)
kite = KiteConnect(api_key="lpze9cqa93hq6uxs")
print(kite.login_url())

request_token = input("request_token: ")
data = kite.generate_session(request_token, api_secret="dygoccakmkf4c31z6nh7uzmz4ht971dv")
kite.set_access_token("W8l1AgMKtw7RMzri5J9c1Iz5rM0aa52Q")
print(kite.margins())
