/**
 * What a process pays to read a TCP stream: Node's own reads (a fresh buffer of up to 64 KiB per
 * read) against reads into one reused buffer (`net.Socket` `onread`, as src/mqtt/pooled-reads.ts
 * reads). A child process writes 1 GiB over loopback; this process reads it; CPU ms per MB of
 * the reader (BENCHMARKS.md, issue 18, fourth pass).
 *   node bin/run-ts.mjs bench/socket-reads.ts
 */
import net from 'node:net'
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const TOTAL = 1024 * 1024 * 1024

if (process.argv[3] === 'serve') {
  const buf = Buffer.alloc(1024 * 1024, 7)
  const server = net.createServer(async (s) => {
    for (let sent = 0; sent < TOTAL; sent += buf.length) if (!s.write(buf)) await new Promise((r) => s.once('drain', r))
    s.end()
    server.close()
  }).listen(0, '127.0.0.1', () => process.send!((server.address() as net.AddressInfo).port))
} else {
  const runTs = fileURLToPath(new URL('../bin/run-ts.mjs', import.meta.url))
  for (const kind of ['default', 'onread 64 KiB', 'onread 1 MiB', 'default', 'onread 64 KiB', 'onread 1 MiB']) {
    const child = fork(runTs, [fileURLToPath(import.meta.url), 'serve'])
    const port = await new Promise<number>((r) => child.once('message', (p) => r(p as number)))
    await new Promise<void>((done) => {
      let got = 0
      const c0 = process.cpuUsage()
      const fin = () => {
        const u = process.cpuUsage(c0)
        console.log(`${kind.padEnd(14)} reader CPU ${((u.user + u.system) / 1000 / (TOTAL / 1e6)).toFixed(3)} ms/MB`)
        done()
      }
      const seen = (n: number) => {
        got += n
        if (got >= TOTAL) fin()
        return true
      }
      if (kind === 'default') net.connect({ port, host: '127.0.0.1' }).on('data', (b: Buffer) => seen(b.length))
      else net.connect({ port, host: '127.0.0.1', onread: { buffer: Buffer.alloc(kind === 'onread 1 MiB' ? 1024 * 1024 : 65536), callback: seen } })
    })
    await new Promise((r) => child.once('exit', r))
  }
}
