/** Argument parsers for the CLI: each validates one flag and names it in its error. */
import { InvalidArgumentError } from 'commander'

export function parsePort(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`expected a port number 0-65535, got ${JSON.stringify(value)}`)
  return n
}

export function parseBrokerUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidArgumentError(`expected a broker URL such as mqtt://host:1883, got ${JSON.stringify(value)}`)
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'tls:'].includes(url.protocol)) {
    throw new InvalidArgumentError(`unsupported broker URL scheme ${url.protocol} (use mqtt, mqtts, ws or wss)`)
  }
  return value
}
