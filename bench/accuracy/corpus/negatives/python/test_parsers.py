"""Parser tests: synthetic ids and hashes, no credentials."""
import hashlib
import uuid

ORDER_ID = "85334a40-5f63-42d5-a4ca-9ebe38623ae4"
CLIENT_ORDER_ID = str(uuid.uuid4())
PAYLOAD_SHA256 = "5111c99acaa85521b699d065ff65e706dc93236892e0d187193955bbc5e8158f"
COMMIT = "fa58e0f92de6d82f7fb9b55ef5ee227e9750f65d"
CONID = 265598
ports = {"tws_live": 7496, "tws_paper": 7497, "gateway_live": 4001, "gateway_paper": 4002}


def test_hash():
    assert hashlib.sha256(b"x").hexdigest() != PAYLOAD_SHA256
