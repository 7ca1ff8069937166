// Live account: reads fills and posts them to the desk channel.
const Alpaca = require('@alpacahq/alpaca-trade-api');

const alpaca = new Alpaca({
  keyId: 'AK5L3CTRMG787HNHRLYH',
  secretKey: 'dkET3b0AQLPM6YQGPvpfiM0z7uZsPQZeZmcKoi7xM3rs',
  paper: false,
});

const WEBHOOK_TIMEOUT_MS = 5000;
const lastOrderId = '7ad43197-4045-456d-bafa-5be51e1e2cf4';

async function fills() {
  const activities = await alpaca.getAccountActivities({ activityTypes: 'FILL', after: lastOrderId });
  return activities.map((a) => `${a.symbol} ${a.side} ${a.qty} @ ${a.price}`);
}

module.exports = { fills, WEBHOOK_TIMEOUT_MS };
