import pyotp
import robin_stocks.robinhood as r

totp = pyotp.TOTP("2B7TB72Y5LU3BHDOZK4VMYLCWOTOHMSP").now()
login = r.login("pat.kowalski@example.org", "VI38.UMZPcq!", mfa_code=totp, store_session=False)

holdings = r.build_holdings()
for symbol, h in holdings.items():
    print(symbol, h["quantity"], h["equity"])
