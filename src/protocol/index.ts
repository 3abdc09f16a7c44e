/** The wire protocol shared by the hub and the device bridge (pure; no I/O). */
export * from './topics.js'
export * from './codec.js'
export * from './dtypes.js'
export * from './payloads.js'
export * from './chunks.js'
export * from './reassembly.js'
export * from './cbor-budgets.js'
