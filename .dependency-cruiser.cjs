/**
 * Dora's layering, checked in `npm test` (README § Architecture). Type-only imports count.
 * Each rule forbids an arrow the architecture does not allow.
 */
const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from: { path: from }, to: { path: to } })

module.exports = {
  forbidden: [
    forbid('device-not-hub-side', 'the device side imports only protocol, runtime, model, mqtt, shared and errors', '^device-firmware-bridge/', '^src/(planner|sim|hub|broker|registry|integrations|status|scenario|config|demo|cli|emulation)/'),
    forbid('planner-pure', 'the planner is pure: no simulator, hub, MQTT, broker or runtime', '^src/planner/', '^src/(sim|hub|mqtt|broker|runtime|registry|integrations|status|demo|cli|emulation)/|^device-firmware-bridge/'),
    forbid('sim-checks-planner', 'the simulator imports the planner, never the hub or the devices', '^src/sim/', '^src/(hub|mqtt|broker|registry|integrations|status|demo|cli|emulation)/|^device-firmware-bridge/'),
    forbid('integrations-read-views', 'integrations and the status page read views/, not the hub', '^src/(integrations|status)/', '^src/hub/'),
    forbid('mqtt-not-broker', 'the MQTT client does not reach into the broker', '^src/mqtt/', '^src/(broker|hub)/'),
    forbid('protocol-pure', 'the wire contract imports no transport, planner or service', '^src/protocol/', '^src/(mqtt|broker|planner|sim|hub|runtime|registry|integrations|status|demo|cli|emulation|model)/|^device-firmware-bridge/'),
    forbid('shared-leaf', 'the shared module imports nothing of Dora outside itself', '^src/shared/', '^src/(?!shared/)|^device-firmware-bridge/'),
    forbid('src-not-tests', 'product code does not import tests or benchmarks', '^(src|device-firmware-bridge)/', '^(test|bench)/'),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
}
