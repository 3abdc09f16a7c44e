/**
 * `dora job submit FILE | list | cancel ID`: run-time jobs over MQTT, as an operator
 * (`auth.operators` in the hub's config). A spec is a job as in a scenario file, plus the hub's
 * job settings (network, batteryMinPct, recostCron, driftThreshold); it is published retained on
 * dora/v1/jobs/{id}/spec, so it survives a hub restart; the hub answers on .../status. A spec
 * whose model is an .onnx file on this machine uploads it first (retained chunks on
 * dora/v1/uploads/{sha256}/{i}) and names it `upload:{sha256}`.
 */
import mqtt, { type MqttClient } from 'mqtt'
import type { Command } from 'commander'
import { readConfigFile } from '../config/load.js'
import { DoraError, ErrorCodes } from '../errors.js'
import { PROTOCOL_VERSION, filters, isValidId, parseTopic, topics } from '../protocol/topics.js'
import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { encodeCbor } from '../protocol/codec.js'
import type { ModelChunk } from '../protocol/payloads.js'
import { onnx } from '../model/onnx.js'
import { MAX_MODEL_BYTES } from '../model/load.js'
import { UPLOAD_PREFIX } from '../hub/uploads.js'
import { table } from './format.js'

interface Conn { broker: string; username?: string; password?: string; timeoutMs: string }

interface Status { jobId: string; state: string; source: string; timeMs: number; error?: string }

const who = (c: Conn) => (c.username ? `user ${c.username}` : 'an anonymous client')

async function connect(c: Conn): Promise<MqttClient> {
  const password = c.password ?? process.env.DORA_OPERATOR_PASSWORD
  try {
    return await mqtt.connectAsync(c.broker, { ...(c.username ? { username: c.username } : {}), ...(password ? { password } : {}), reconnectPeriod: 0, connectTimeout: 5000 })
  } catch (err) {
    throw new DoraError(ErrorCodes.USAGE, `cannot connect to ${c.broker}: ${(err as Error).message}`)
  }
}

/**
 * Waits for a live status of `jobId` newer than `since` (the hub's answer). Rejects with a clear error
 * when the broker closes the connection (a publish the ACL refuses closes an MQTT 3.1.1 client)
 * or when no answer comes in time; `done()` stops waiting. Never left as an unhandled rejection.
 */
function awaitStatus(client: MqttClient, jobId: string, since: number, timeoutMs: number, who: string): { answer: Promise<Status>; done: () => void } {
  let done = () => {}
  const answer = new Promise<Status>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DoraError(ErrorCodes.USAGE, `no answer from the hub for job ${jobId} within ${timeoutMs} ms (is it running, and are you an operator?)`)), timeoutMs)
    const onClose = () => reject(refused(who))
    const onMessage = (topic: string, payload: Buffer, packet: { retain?: boolean }) => {
      // the answer arrives live; a status the broker kept from before (retain flag set on delivery,
      // [MQTT-3.3.1-9]) is not it, however recent (a configured job's 'accepted' from the hub's start)
      if (topic !== topics.job(jobId, 'status') || packet.retain) return
      try {
        const s = JSON.parse(payload.toString()) as Status
        if (s.timeMs >= since) resolve(s)
      } catch {
        // not a status message; keep waiting
      }
    }
    client.on('message', onMessage)
    client.once('close', onClose)
    done = () => {
      clearTimeout(timer)
      client.off('message', onMessage)
      client.off('close', onClose)
    }
  })
  answer.then(done, done)
  return { answer, done }
}

const refused = (who: string) =>
  new DoraError(ErrorCodes.USAGE, `the broker refused the request and closed the connection: ${who} may not submit or cancel jobs (only the hub's operators may: auth.operators)`)

/** Disconnects; after the broker closed the connection, mqtt.js's endAsync never settles. */
async function disconnect(client: MqttClient): Promise<void> {
  if (!client.connected) {
    client.end(true)
    return
  }
  await Promise.race([client.endAsync(), new Promise((r) => setTimeout(r, 2000).unref())])
}

/** Subscribes, turning a refusal (SUBACK 0x80) into a clear error. */
async function subscribeOrExplain(client: MqttClient, filter: string, by: string): Promise<void> {
  let granted
  try {
    granted = await client.subscribeAsync(filter, { qos: 1 })
  } catch {
    granted = [{ qos: 128 }]
  }
  if (granted.some((g) => g.qos === 128)) throw new DoraError(ErrorCodes.USAGE, `the broker refused ${by} a subscription to ${filter}: only the hub's operators and observers may read job statuses`)
}

/** Publishes, turning a refusal (the broker closing the connection) into a clear error. */
async function publishOrExplain(client: MqttClient, topic: string, payload: string | Buffer, who: string): Promise<void> {
  // a refused QoS 1 publish closes the connection and may never settle (MQTT.js issue 1987)
  let onClose = () => {}
  const closed = new Promise<never>((_, reject) => {
    onClose = () => reject(refused(who))
    client.once('close', onClose)
  })
  try {
    await Promise.race([client.publishAsync(topic, payload, { qos: 1, retain: true }), closed])
  } catch {
    throw refused(who)
  } finally {
    client.off('close', onClose)
    closed.catch(() => {})
  }
}

/** The model file a spec names on this machine (absolute, or relative to the spec), or null (a zoo name, an upload). */
async function localModel(model: string, specDir: string): Promise<string | null> {
  if (model.startsWith(UPLOAD_PREFIX) || !/\.onnx$/i.test(model)) return null
  const path = isAbsolute(model) ? model : join(specDir, model)
  try {
    if ((await stat(path)).isFile()) return path
  } catch {
    // not here: the hub may have it (a path on the hub)
  }
  return null
}

/** Publishes a model file's chunks retained on dora/v1/uploads/{sha256}/{i}; the spec then names `upload:{sha256}`. */
async function uploadModel(client: MqttClient, path: string, by: string): Promise<{ model: string; sha256: string; bytes: number; chunks: number }> {
  const bytes = new Uint8Array(await readFile(path))
  if (bytes.length > MAX_MODEL_BYTES) throw new DoraError(ErrorCodes.USAGE, `${path}: ${bytes.length} bytes is over the ${MAX_MODEL_BYTES} byte limit`)
  try {
    onnx.ModelProto.decode(bytes)
  } catch (err) {
    throw new DoraError(ErrorCodes.USAGE, `${path} is not an ONNX model: ${(err as Error).message}`)
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  const chunkBytes = 256 * 1024
  const chunks = Math.max(1, Math.ceil(bytes.length / chunkBytes))
  for (let i = 0; i < chunks; i++) {
    const chunk: ModelChunk = { v: PROTOCOL_VERSION, sha256, index: i, count: chunks, totalBytes: bytes.length, data: bytes.subarray(i * chunkBytes, (i + 1) * chunkBytes) }
    await publishOrExplain(client, topics.upload(sha256, i), encodeCbor(chunk), by)
  }
  return { model: `${UPLOAD_PREFIX}${sha256}`, sha256, bytes: bytes.length, chunks }
}

export function registerJobCommand(program: Command, setExit: (code: number) => void): void {
  const job = program.command('job').description('submit, list or cancel jobs on a running hub (as an operator)')
  const common = (c: Command) => c
    .option('--broker <url>', "the hub's broker", 'mqtt://127.0.0.1:1883')
    .option('--username <name>', 'operator user name')
    .option('--password <secret>', 'operator password (or DORA_OPERATOR_PASSWORD)')
    .option('--timeout-ms <ms>', 'how long to wait for the hub', '30000')

  common(job.command('submit <file>').description('submit (or replace) a job from a YAML or JSON spec'))
    .action(async (file: string, c: Conn) => {
      const spec = await readConfigFile(file)
      const id = (spec as { id?: unknown }).id
      if (typeof id !== 'string' || !isValidId(id)) throw new DoraError(ErrorCodes.USAGE, `${file}: id must be 1-64 characters of A-Z a-z 0-9 _ - .`)
      const client = await connect(c)
      try {
        const model = (spec as { model?: unknown }).model
        const local = typeof model === 'string' ? await localModel(model, dirname(resolve(file))) : null
        if (local) {
          const ref = await uploadModel(client, local, who(c))
          ;(spec as { model: string }).model = ref.model
          process.stderr.write(`uploaded ${local} (${(ref.bytes / 1e6).toFixed(1)} MB, ${ref.chunks} chunks, sha256 ${ref.sha256.slice(0, 12)}...)\n`)
        }
        await subscribeOrExplain(client, topics.job(id, 'status'), who(c))
        const since = Date.now() - 1000
        const wait = awaitStatus(client, id, since, Number(c.timeoutMs), who(c))
        const s = await publishOrExplain(client, topics.job(id, 'spec'), JSON.stringify(spec), who(c)).then(() => wait.answer, (err: Error) => {
          wait.done()
          throw err
        })
        if (s.state === 'accepted') process.stdout.write(`job ${id} accepted; the hub plans it on the devices online (plan epochs on ${topics.job(id, 'plan')})\n`)
        else {
          process.stderr.write(`dora: job ${id} ${s.state}: ${s.error ?? ''}\n`)
          setExit(1)
        }
      } finally {
        await disconnect(client)
      }
    })

  common(job.command('cancel <id>').description('cancel a submitted job'))
    .action(async (id: string, c: Conn) => {
      if (!isValidId(id)) throw new DoraError(ErrorCodes.USAGE, `job id must be 1-64 characters of A-Z a-z 0-9 _ - ., not ${JSON.stringify(id)}`)
      const client = await connect(c)
      try {
        await subscribeOrExplain(client, topics.job(id, 'status'), who(c))
        const wait = awaitStatus(client, id, Date.now() - 1000, Number(c.timeoutMs), who(c))
        const s = await publishOrExplain(client, topics.job(id, 'spec'), Buffer.alloc(0), who(c)).then(() => wait.answer, (err: Error) => {
          wait.done()
          throw err
        })
        process.stdout.write(`job ${id} ${s.state}${s.error ? `: ${s.error}` : ''}\n`)
        if (s.state !== 'cancelled') setExit(1)
      } finally {
        await disconnect(client)
      }
    })

  common(job.command('list').description("list the hub's jobs and their state"))
    .action(async (c: Conn) => {
      const client = await connect(c)
      const seen = new Map<string, Status>()
      client.on('message', (topic, payload) => {
        const t = parseTopic(topic)
        if (t?.scope !== 'job' || t.kind !== 'status' || !payload.length) return
        try {
          seen.set(t.jobId, JSON.parse(payload.toString()) as Status)
        } catch {
          // skip what is not a status
        }
      })
      try {
        await subscribeOrExplain(client, filters.allJobStatus, who(c))
        await new Promise((r) => setTimeout(r, 500)) // retained statuses arrive at once
      } finally {
        await disconnect(client)
      }
      if (!seen.size) process.stdout.write('no jobs\n')
      else process.stdout.write(`${table(['job', 'state', 'source', 'since', 'error'], [...seen.values()].map((s) => [s.jobId, s.state, s.source, new Date(s.timeMs).toISOString(), s.error ?? '']))}\n`)
    })
}
