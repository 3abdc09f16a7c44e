/**
 * Server-sent events for the status page: each open page gets the page's sections as they change
 * (one `status` event a second), so it updates in place without reloading. The number of open
 * streams is capped; `close()` ends every stream so the server can stop.
 */
import type http from 'node:http'

export class StatusEvents {
  private readonly streams = new Set<http.ServerResponse>()

  constructor(private readonly maxStreams = 32) {}

  get count(): number {
    return this.streams.size
  }

  /** Takes a GET /events request: the stream stays open until the page or the hub goes. */
  attach(req: http.IncomingMessage, res: http.ServerResponse, first: string): void {
    if (this.streams.size >= this.maxStreams) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' }).end(`too many open status pages (${this.maxStreams})\n`)
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    res.write('retry: 2000\n\n')
    this.streams.add(res)
    const drop = () => this.streams.delete(res)
    req.on('close', drop)
    res.on('error', drop)
    this.send(res, first)
  }

  /** Sends one `status` event (a JSON document) to every open page. */
  broadcast(json: string): void {
    for (const res of this.streams) this.send(res, json)
  }

  close(): void {
    for (const res of this.streams) res.end()
    this.streams.clear()
  }

  private send(res: http.ServerResponse, json: string): void {
    // a page that does not keep up is dropped rather than buffered without bound
    if (res.writableLength > 1024 * 1024) {
      res.destroy()
      this.streams.delete(res)
      return
    }
    res.write(`event: status\ndata: ${json}\n\n`)
  }
}
