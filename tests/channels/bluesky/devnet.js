// Starts @atproto/dev-env's TestNetwork (PLC + PDS + AppView) for the tests, every server
// on 127.0.0.1. Prints one JSON line {pds, appview, plc, control} when it answers; then
// POST {control}/settle waits until the AppView has indexed everything posted so far.
// SIGTERM closes the network. Env: DB_POSTGRES_URL, DB_POSTGRES_SCHEMA, REDIS_HOST.
'use strict'
const net = require('node:net')
const http = require('node:http')

// dev-env listens on every interface: pin each server (a numeric port) to loopback.
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1')
  else if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined && !args[0].host)
    args[0] = { ...args[0], host: '127.0.0.1' }
  return listen.apply(this, args)
}

const { TestNetwork } = require('@atproto/dev-env')

async function main () {
  const network = await TestNetwork.create({ dbPostgresSchema: process.env.DB_POSTGRES_SCHEMA })
  const control = http.createServer((req, res) => {
    network.processAll().then(
      () => res.end('ok'),
      (err) => { res.statusCode = 500; res.end(String(err)) })
  })
  control.listen(0, '127.0.0.1', () => {
    const port = control.address().port
    process.stdout.write(JSON.stringify({
      pds: network.pds.url, appview: network.bsky.url, plc: network.plc.url,
      control: `http://127.0.0.1:${port}`
    }) + '\n')
  })
  const stop = async () => {
    control.close()
    await network.close()
    process.exit(0)
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main().catch((err) => { console.error(err); process.exit(1) })
