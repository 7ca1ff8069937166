from uvatradier import Tradier, EquityOrder

tradier_acct = "VA39093744"
auth_token = "h8lSB3iBVZrF9r0W8rf0LgiDxuP9"
orders = EquityOrder(tradier_acct, auth_token, live_trade=False)
