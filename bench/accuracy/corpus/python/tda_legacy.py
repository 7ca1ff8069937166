# TD Ameritrade era script, kept for the symbol dump
from tda import auth

c = auth.client_from_token_file("/tmp/tda_token.json", "8WM9BVBEPQIVQHG1GI6JZRBZI3QUYMT1@AMER.OAUTHAP")
