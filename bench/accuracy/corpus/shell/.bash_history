cd ~/bots/alpaca
source .venv/bin/activate
export APCA_API_KEY_ID=AK2S8WPJJAHNFA7YEMKN
export APCA_API_SECRET_KEY=gSHle6a5luiGnT9662N8MfuRZGAQNKoFdbHZmYXc
python live.py --dry-run
curl -s -H "APCA-API-KEY-ID: $APCA_API_KEY_ID" -H "APCA-API-SECRET-KEY: $APCA_API_SECRET_KEY" https://api.alpaca.markets/v2/account | jq .
docker run -d --name ibgw -e TWS_USERID=fmals348 -e TWS_PASSWORD=14TMNyhTZPmS -p 127.0.0.1:4002:4004 ghcr.io/gnzsnz/ib-gateway:stable
docker logs -f ibgw
curl -H "Authorization: Bearer 4e92ffc7e79c6311809c7d8a216eb929-0ff57fbeba5808bbc2f697e672c840fc" https://api-fxtrade.oanda.com/v3/accounts
export BINANCE_API_SECRET=cwQa6PbteYJ8KmQb8ldDrjVzizszqMwsiyONL6DsKdG1opdf41XKdoHyxu6RdWNe
export KRAKEN_API_KEY=$(pass show kraken/api-key)
git commit -am "rotate keys"
curl "https://api.polygon.io/v2/aggs/ticker/SPY/prev?apiKey=T1qhc5LNWNrjxdXNPBFociOOiRHf01O4"
htop
