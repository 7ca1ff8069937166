from coinbase.rest import RESTClient

client = RESTClient(
    api_key="organizations/379f9c39-b33e-4acb-a6ac-04f4693f7076/apiKeys/bc820dea-b679-4ffd-95cf-9db35567909a",
    api_secret="WIaZWeer/04+KZtSvtXP4z3oBhUqeDfxfRdCoxBBgjU34H0EIS0L/UFpFM5EuIj+dd/tOUIELa/3QwUkGiYB8A==",
)
print(client.get_accounts())
