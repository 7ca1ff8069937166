#!/bin/sh
# Client Portal Web API smoke test against the local gateway
curl -sk https://localhost:5000/v1/api/iserver/auth/status
curl -sk https://localhost:5000/v1/api/portfolio/U0035579/positions/0
curl -sk -X POST https://localhost:5000/v1/api/iserver/account/U6053620/orders -d @order.json
