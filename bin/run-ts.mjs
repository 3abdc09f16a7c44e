#!/usr/bin/env node
// Runs one TypeScript file (benchmarks, scripts) through tsx's loader.
import { register } from 'tsx/esm/api'
// onnxruntime-node (1.30 on Linux and macOS) sends usage telemetry to Microsoft, keeps a device id and
// an event cache under ~/.cache/Microsoft and a log file in /tmp unless ORT_DISABLE_TELEMETRY is set
// before its first session: Dora's hub and devices stay off the internet unless the user sets it to 0.
process.env.ORT_DISABLE_TELEMETRY ??= '1'
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'
register()
const file = process.argv[2]
if (!file) { console.error('usage: run-ts.mjs FILE.ts [args...]'); process.exit(2) }
await import(pathToFileURL(resolve(file)).href)
