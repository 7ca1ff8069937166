// practice account price stream
const https = require('https');

const TOKEN = '4d04f8d0e38512e558997d8998aa0ada-cfc87bc91ec73e0a66740d83c75c8362';
const ACCOUNT = '101-004-4977373-002';
const HOST = 'stream-fxpractice.oanda.com';

https.get({
  host: HOST,
  path: `/v3/accounts/${ACCOUNT}/pricing/stream?instruments=EUR_USD`,
  headers: { Authorization: `Bearer ${TOKEN}` },
}, (res) => res.on('data', (chunk) => process.stdout.write(chunk)));
