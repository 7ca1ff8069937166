from ibind import IbkrClient, ibind_logs_initialize

ibind_logs_initialize()
client = IbkrClient(
    account_id="U2733727",
    use_oauth=True,
    cacert=False,
)
print(client.positions().data)
