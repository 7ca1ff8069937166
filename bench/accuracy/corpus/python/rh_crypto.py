import base64
from nacl.signing import SigningKey

API_KEY = "rh-api-eccf86a5-66f4-4d0c-a7cd-343a04457e37"
BASE64_PRIVATE_KEY = "JzfOtFSvTmTR9qRqqF+Aax2YEIuxCWI8+8ELNiDVL+M="
BASE_URL = "https://trading.robinhood.com"

signing_key = SigningKey(base64.b64decode(BASE64_PRIVATE_KEY))
