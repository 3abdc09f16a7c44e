/**
 * Dora's accounts and ACL for Mosquitto 2 (`dora mosquitto-config`): a `mosquitto.conf`, a password
 * file in Mosquitto's own hashed format and an ACL file that mirror the embedded broker's rules
 * (topics.md § Who may publish and subscribe) for the hub's account (`broker.username`), the
 * devices, the observers and the operators of a hub config. Pure: config in, file texts out.
 *
 * Mosquitto's ACL is static, so where the embedded broker follows which jobs a device is assigned
 * to, this one grants every device the data-plane topics of every job; everything else is the same.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto'
import type { Config } from '../config/schema.js'
import { filters, ha, topics } from '../protocol/topics.js'

/** Mosquitto 2.0's password hash: PBKDF2-SHA512, 101 iterations, 12-byte salt (mosquitto_passwd's defaults). */
const ITERATIONS = 101
const SALT_BYTES = 12

/** `$7$101$<base64 salt>$<base64 hash>`, as `mosquitto_passwd` writes it. */
export function mosquittoPasswordHash(password: string, salt: Buffer = randomBytes(SALT_BYTES)): string {
  const hash = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, ITERATIONS, 64, 'sha512')
  return `$7$${ITERATIONS}$${salt.toString('base64')}$${hash.toString('base64')}`
}

/** A username Mosquitto's password and ACL files can hold (no separator, wildcard or blank). */
const USERNAME = /^[^\s:#+/\u0000-\u001f\u007f]{1,128}$/

export interface MosquittoOptions {
  /** Absolute folder the files will live in (mosquitto.conf names the others by this path). */
  readonly dir: string
  readonly port: number
  /** Address to listen on (null: every interface, Mosquitto's default). */
  readonly host: string | null
}

export interface MosquittoFiles {
  readonly conf: string
  readonly passwd: string
  readonly acl: string
  /** Accounts written to the ACL but not to the password file (only a SHA-256 of their password is known). */
  readonly withoutPassword: readonly string[]
}

interface Account {
  readonly username: string
  readonly role: 'hub' | 'device' | 'observer' | 'operator'
  readonly password: string | undefined
}

function accounts(c: Readonly<Config>): Account[] {
  if (!c.broker.username || !c.broker.password) {
    throw new TypeError('broker.username and broker.password must be set: they are the hub\'s own account on Mosquitto (use the same config for `dora hub --broker mqtt://HOST:PORT`)')
  }
  const out: Account[] = [
    { username: c.broker.username, role: 'hub', password: c.broker.password },
    ...c.auth.devices.map((d) => ({ username: d.id, role: 'device' as const, password: d.password })),
    ...c.auth.observers.map((o) => ({ username: o.username, role: 'observer' as const, password: o.password })),
    ...c.auth.operators.map((o) => ({ username: o.username, role: 'operator' as const, password: o.password })),
  ]
  const seen = new Set<string>()
  for (const a of out) {
    if (!USERNAME.test(a.username)) throw new TypeError(`${a.role} username ${JSON.stringify(a.username)} cannot go into Mosquitto's files: use 1-128 characters without blanks, ':', '#', '+' or '/'`)
    if (seen.has(a.username)) throw new TypeError(`username ${JSON.stringify(a.username)} is used by two accounts; Mosquitto knows one password and one ACL per username`)
    seen.add(a.username)
  }
  return out
}

/** The ACL lines of one account: topics.md § Who may publish and subscribe, as Mosquitto `topic` lines. */
function rules(a: Account, haPrefix: string | null): string[] {
  const read = (t: string) => `topic read ${t}`
  const write = (t: string) => `topic write ${t}`
  const haRead = haPrefix ? [read(`${haPrefix}/#`)] : []
  // training state (a job's parameters and optimizer state) is the hub's and its addressee's only
  const noState = filters.allTrainingState.map((t) => `topic deny ${t}`)
  switch (a.role) {
    case 'hub':
      return [`topic readwrite ${filters.everything}`, ...(haPrefix ? [`topic readwrite ${haPrefix}/#`] : [])]
    case 'observer':
      return [read(filters.everything), ...noState, ...haRead, ...(haPrefix ? [write(ha.status(haPrefix))] : [])]
    case 'operator':
      return [read(filters.everything), ...noState, ...haRead, write(filters.allJobSpecs), write(filters.allUploads), write(ha.allJobGoalSets), ...(haPrefix ? [write(ha.status(haPrefix))] : [])]
    case 'device': {
      const id = a.username
      return [
        write(topics.device(id, 'caps')), write(topics.device(id, 'heartbeat')), write(topics.device(id, 'availability')), write(topics.device(id, 'air')),
        write(filters.allJobTensors), write(filters.allJobResults), write(filters.allJobReceipts), write(filters.allJobSteps), write(filters.allJobCheckpoints), write(filters.allJobRestores),
        read(filters.deviceOwn(id)), read(filters.hub), read(filters.allJobPlans), read(filters.allModels), read(filters.tensorsToDevice(id)),
        read(filters.resultsTo(id)), read(filters.resultsTo(id, 'receipts')), read(filters.checkpointsToDevice(id)), read(filters.restoresToDevice(id)),
        read(filters.allJobRequests), read(filters.allJobSteps),
      ]
    }
  }
}

/**
 * The lines of Dora's mosquitto.conf that the data plane's speed depends on (the transfer
 * benchmark runs Mosquitto with them too). Mosquitto leaves Nagle's algorithm on by default: a
 * PUBACK then waits for the TCP acknowledgement of the one before it, which a sender that has
 * nothing more to send delays by up to 40 ms (delayed ACK). Every tensor a device sends ends so
 * (it waits for its last chunks' PUBACKs): 96 of 100 1 MiB tensors sent one at a time stalled
 * about 40 ms, 2 of 100 with this line (BENCHMARKS.md, issue 18, fourth pass).
 */
export const DATA_PLANE_LINES: readonly string[] = [
  '# PUBACKs go out at once (Nagle would hold each until the sender acknowledges the one before:',
  '# up to 40 ms at the end of every tensor a device sends)',
  'set_tcp_nodelay true',
]

export function mosquittoFiles(c: Readonly<Config>, o: MosquittoOptions, salt: () => Buffer = () => randomBytes(SALT_BYTES)): MosquittoFiles {
  const all = accounts(c)
  const haPrefix = c.homeassistant.enabled ? c.homeassistant.discoveryPrefix : null
  const path = (f: string) => `${o.dir.replace(/\/+$/, '')}/${f}`
  const conf = [
    '# Mosquitto 2 configuration for Dora, written by `dora mosquitto-config` from the hub config.',
    '# Accounts: the password file; who may publish and subscribe where: the ACL file (topics.md § ACL).',
    'per_listener_settings false',
    `listener ${o.port}${o.host ? ` ${o.host}` : ''}`,
    'allow_anonymous false',
    `password_file ${path('passwd')}`,
    `acl_file ${path('acl')}`,
    '# the client id is the username: no client can take over (disconnect) another account\'s session;',
    '# each account holds one connection at a time (give every dashboard its own observer account)',
    'use_username_as_clientid true',
    '# larger packets disconnect their sender (Dora sizes its tensor chunks below this)',
    `max_packet_size ${c.broker.embedded.maxPacketBytes}`,
    '# a subscriber that falls behind (a slow device under a burst of small tensors) keeps up to',
    `# ${c.broker.embedded.maxQueuedMessages} queued QoS 1 messages (Mosquitto drops beyond 1,000 by default), bounded to`,
    `# ${c.broker.embedded.maxQueuedBytes} bytes per client (broker.embedded.maxQueued*, as the embedded broker bounds them);`,
    '# a tensor whose chunk is dropped beyond that is re-sent after the reassembly timeout',
    `max_queued_messages ${c.broker.embedded.maxQueuedMessages}`,
    `max_queued_bytes ${c.broker.embedded.maxQueuedBytes}`,
    ...DATA_PLANE_LINES,
    '# retained caps, plans, specs and stage models survive a restart of Mosquitto',
    'persistence true',
    `persistence_location ${path('')}`,
    '',
  ].join('\n')
  const withPassword = all.filter((a) => a.password !== undefined)
  const passwd = withPassword.map((a) => `${a.username}:${mosquittoPasswordHash(a.password!, salt())}\n`).join('')
  const acl = [
    '# Dora ACL for Mosquitto 2, written by `dora mosquitto-config` (topics.md § Who may publish and subscribe).',
    '# Anonymous clients get nothing (and allow_anonymous is false). Mosquitto\'s ACL is static: every device',
    '# may use the data-plane topics (requests, tensors, results, receipts, steps) of every job, where the embedded broker',
    '# allows only those of the jobs the device is assigned to.',
    ...all.flatMap((a) => ['', `# ${a.role}`, `user ${a.username}`, ...rules(a, haPrefix)]),
    '',
  ].join('\n')
  return { conf, passwd, acl, withoutPassword: all.filter((a) => a.password === undefined).map((a) => a.username) }
}
