region             = "us-east-1"
instance_type      = "t3.small"
alpaca_key_id      = "PKN9B2HTY1DE54V6RC4G"
alpaca_secret_key  = "2dtsFECf7fHv8b20mxFAsm0QmyFMO8dISLDHgGNQ"
oanda_access_token = "93de7154226ed8c07b60ff8b84183f47-b1497996deef7b6a6e0a3c1d65c89fb9"
schwab_app_key     = "2SlRIsQbuzvvTvTv1B7l8d5esp6UB2iE"
schwab_app_secret  = "JYlTR0NdNLRZRz8u"
allowed_cidrs      = ["10.20.0.0/16"]
