// Kite Publisher button: the api_key here is the public publisher key of the widget docs
import { KiteConnect } from 'kiteconnect';

const kite = new KiteConnect({ api_key: process.env.KITE_API_KEY });
const session = await kite.generateSession(requestToken, process.env.KITE_API_SECRET);
kite.setAccessToken(session.access_token);
const instrumentToken = 738561;
