/**
 * `dora mosquitto-config`: writes mosquitto.conf, a hashed password file and an ACL file that
 * mirror a hub config's accounts and topics.md § ACL (src/broker/mosquitto-config.ts), for running
 * Dora on Mosquitto (the broker Home Assistant's MQTT 5 connection needs).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { loadConfig } from '../config/load.js'
import { mosquittoFiles } from '../broker/mosquitto-config.js'
import { DoraError, ErrorCodes } from '../errors.js'
import { parsePort } from './args.js'

interface Flags {
  config: string
  out: string
  port: number
  host?: string
}

export function registerMosquittoCommand(program: Command): void {
  program
    .command('mosquitto-config')
    .description("write mosquitto.conf, a password file (Mosquitto's hashed format) and an ACL file for Dora's accounts in a hub config")
    .requiredOption('-c, --config <file>', 'hub configuration file (its broker.username/password are the hub\'s account)')
    .requiredOption('-o, --out <dir>', 'folder to write mosquitto.conf, passwd and acl into (created if missing)')
    .option('-p, --port <n>', 'port Mosquitto listens on', parsePort, 1883)
    .option('--host <addr>', 'address Mosquitto listens on (default: every interface)')
    .action(async (flags: Flags) => {
      const config = await loadConfig(flags.config)
      const dir = resolve(flags.out)
      let files
      try {
        files = mosquittoFiles(config, { dir, port: flags.port, host: flags.host ?? null })
      } catch (err) {
        throw new DoraError(ErrorCodes.MOSQUITTO_CONFIG, (err as Error).message)
      }
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, 'mosquitto.conf'), files.conf)
      writeFileSync(join(dir, 'acl'), files.acl)
      writeFileSync(join(dir, 'passwd'), files.passwd, { mode: 0o600 })
      chmodSync(join(dir, 'passwd'), 0o600)
      process.stdout.write(`wrote ${join(dir, 'mosquitto.conf')}, ${join(dir, 'passwd')} and ${join(dir, 'acl')}\n`
        + `start it with: mosquitto -c ${join(dir, 'mosquitto.conf')} (as a service it runs as user mosquitto: chown -R mosquitto: ${dir})\n`
        + `then: dora hub --config ${flags.config} --broker mqtt://HOST:${flags.port}\n`)
      for (const u of files.withoutPassword) {
        process.stderr.write(`dora: ${u} has only a passwordSha256 in the config; add its password yourself: mosquitto_passwd -b ${join(dir, 'passwd')} ${u} PASSWORD\n`)
      }
    })
}
