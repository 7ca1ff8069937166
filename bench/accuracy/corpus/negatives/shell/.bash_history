export APCA_API_KEY_ID="$(op read op://trading/alpaca/key-id)"
export APCA_API_SECRET_KEY="$(op read op://trading/alpaca/secret)"
export KRAKEN_API_SECRET=$(pass show kraken/secret)
export TWS_PASSWORD=${TWS_PASSWORD:?}
kubectl -n trading create secret generic binance --from-literal=key="$BINANCE_API_KEY" --from-literal=secret="$BINANCE_API_SECRET"
curl -H "Authorization: Bearer $OANDA_ACCESS_TOKEN" https://api-fxpractice.oanda.com/v3/accounts
sha256sum dist/bot-2.4.0.tar.gz
git log --oneline -5
