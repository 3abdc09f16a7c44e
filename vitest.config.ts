import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Broker tests bind loopback ports; files run in parallel on their own ports.
    pool: 'forks',
    // onnxruntime-node's telemetry off, as bin/dora.mjs sets it (no upload, no device id, no /tmp log file)
    env: { ORT_DISABLE_TELEMETRY: '1' },
    reporters: ['default', './test/plain-summary-reporter.ts'],
    // temp-dirs: TMPDIR and the XDG folders in one temporary tree removed after the run;
    // leftovers: fails the run when a test leaves a hub, device, demo, Mosquitto or Redis process behind
    globalSetup: ['./test/leftovers.ts', './test/temp-dirs.ts'],
  },
})
