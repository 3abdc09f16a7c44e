import { dirname, resolve } from 'node:path'
/** `dora hub`: runs the hub (embedded broker by default) until SIGINT/SIGTERM. */
import type { Command } from 'commander'
import { loadConfig } from '../config/load.js'
import { createLogger } from '../log.js'
import { Hub } from '../hub/hub.js'
import { parseBrokerUrl, parsePort } from './args.js'
import { watchForStop } from './shutdown.js'

interface HubFlags {
  config?: string
  port?: number
  wsPort?: number
  noWs?: boolean
  host?: string
  broker?: string
  username?: string
  password?: string
  allowAnonymous?: boolean
  logLevel?: string
}

export function registerHubCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command('hub')
    .description('run the Dora hub: embedded MQTT broker (or --broker), device registry, hub state')
    .option('-c, --config <file>', 'configuration file (YAML or JSON) over config/default.yaml')
    .option('-p, --port <n>', 'embedded broker TCP port (default 1883)', parsePort)
    .option('--ws-port <n>', 'embedded broker WebSocket port (default 8080)', parsePort)
    .option('--host <addr>', 'address the embedded broker binds (default 0.0.0.0)')
    .option('--broker <url>', 'use an external broker (e.g. mqtt://127.0.0.1:1883) instead of the embedded one', parseBrokerUrl)
    .option('--username <name>', 'username on the external broker')
    .option('--password <secret>', 'password on the external broker (prefer DORA_BROKER_PASSWORD)')
    .option('--allow-anonymous', 'let clients without credentials connect to the embedded broker (loopback only unless the config says otherwise)')
    .option('--log-level <level>', 'trace, debug, info, warn, error or silent')
    .action(async (flags: HubFlags) => {
      setExit(await runHub(flags))
    })
}

async function runHub(flags: HubFlags): Promise<number> {
  const embedded: Record<string, unknown> = {}
  if (flags.port !== undefined) embedded.port = flags.port
  if (flags.wsPort !== undefined) embedded.wsPort = flags.wsPort
  if (flags.host !== undefined) embedded.host = flags.host
  if (flags.allowAnonymous) embedded.allowAnonymous = true
  const broker: Record<string, unknown> = { embedded }
  if (flags.broker !== undefined) broker.url = flags.broker
  if (flags.username !== undefined) broker.username = flags.username
  const password = flags.password ?? process.env.DORA_BROKER_PASSWORD
  if (password !== undefined) broker.password = password
  const overrides: Record<string, unknown> = { broker }
  if (flags.logLevel !== undefined) overrides.log = { level: flags.logLevel }

  const config = await loadConfig(flags.config, overrides)
  const log = createLogger(config.log.level)
  const hub = new Hub(config, log, Date.now, flags.config ? dirname(resolve(flags.config)) : process.cwd())
  // listen for the stop signals before starting: a stop during the start waits for it, then stops;
  // whatever the broker does, the process is gone 4 s after the signal
  const shutdown = watchForStop('dora hub')
  await hub.start()
  const p = hub.boundPorts
  process.stdout.write(
    p
      ? `Dora hub "${config.hub.id}" running: embedded broker mqtt://${config.broker.embedded.host}:${p.port}` +
          (p.wsPort !== null ? `, ws://${config.broker.embedded.host}:${p.wsPort}` : '') +
          (p.tlsPort !== null ? `, mqtts://${config.broker.embedded.host}:${p.tlsPort}` : '') +
          '. Press Ctrl-C to stop.\n'
      : `Dora hub "${config.hub.id}" running on external broker ${hub.brokerUrl}. Press Ctrl-C to stop.\n`,
  )
  await shutdown.requested
  process.stdout.write('Stopping Dora hub...\n')
  await hub.stop()
  return 0
}
