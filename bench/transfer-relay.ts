/**
 * The raw TCP relay of the transfer benchmark, alone in its own process as the brokers are, so
 * that its CPU per MB is its own: the upper bound a Node process can reach when it forwards the
 * same bytes with no protocol at all. Listens on two loopback ports: the receiver connects to the
 * first, then a sender to the second, and every byte the sender writes goes to the receiver (one
 * pair at a time, as the cases run). Prints {"recvPort","sendPort"}; exits when stdin closes or on
 * SIGTERM.
 *
 * What it does not do, because each cost the old relay (`sender.pipe(receiver)` in the bench's
 * own process) 2-3x its CPU on this host (BENCHMARKS.md, issue 18, sixth pass): no fresh 64 KiB
 * buffer per read (reads go into reused 1 MiB buffers, the `onread` option of net.Socket, so
 * each read system call takes up to 1 MiB and nothing is left for the garbage collector), no
 * stream machinery between the two sockets, Nagle off on both. Node offers `onread` to sockets it
 * is handed a handle for, not to a server's accepted sockets, so the accepted socket's handle is
 * adopted by a new net.Socket (pauseOnConnect keeps the first from reading it).
 */
import net from 'node:net'

const READ_BYTES = 1024 * 1024

let receiver: net.Socket | null = null
const toReceiver = net.createServer({ noDelay: true }, (s) => {
  receiver?.destroy()
  receiver = s
  s.on('error', () => s.destroy())
})
const fromSender = net.createServer({ noDelay: true, pauseOnConnect: true }, (accepted) => {
  const out = receiver
  if (!out || out.destroyed) return void accepted.destroy()
  relay(accepted, out)
})

/**
 * Forwards `accepted`'s bytes to `out`, reading into one buffer; while a write still holds it
 * (the kernel took part, Node queued the rest) reads go to a spare, and the held one becomes a
 * spare again once written: two 1 MiB buffers at most, no allocation per read.
 */
function relay(accepted: net.Socket, out: net.Socket): void {
  const spares: Buffer[] = []
  let buf: Buffer = Buffer.allocUnsafe(READ_BYTES)
  let held = false // a write that did not finish at once still refers to buf
  const handle = (accepted as unknown as { _handle: unknown })._handle
  const inbound: net.Socket = new net.Socket({
    handle,
    readable: true,
    writable: true,
    onread: {
      buffer: () => {
        if (held) {
          buf = spares.pop() ?? Buffer.allocUnsafe(READ_BYTES)
          held = false
        }
        return buf
      },
      callback: (n: number, b: Uint8Array) => {
        let queued = false
        out.write(b.subarray(0, n), () => {
          if (queued) spares.push(b as Buffer)
          inbound.resume()
        })
        if (out.writableLength > 0) {
          queued = held = true
          inbound.pause()
        }
      },
    },
  } as net.SocketConstructorOpts)
  inbound.setNoDelay(true)
  inbound.on('end', () => out.end())
  inbound.on('error', () => out.destroy())
  out.once('close', () => inbound.destroy())
  inbound.resume()
}

await new Promise<void>((r) => toReceiver.listen(0, '127.0.0.1', r))
await new Promise<void>((r) => fromSender.listen(0, '127.0.0.1', r))
const port = (s: net.Server) => (s.address() as net.AddressInfo).port
process.stdout.write(`${JSON.stringify({ recvPort: port(toReceiver), sendPort: port(fromSender) })}\n`)
const stop = () => {
  receiver?.destroy()
  toReceiver.close()
  fromSender.close()
  process.exit(0)
}
process.once('SIGTERM', stop)
process.stdin.on('end', stop).resume()
