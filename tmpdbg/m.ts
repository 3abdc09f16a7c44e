import { measureFlops } from '../device-firmware-bridge/benchmark.js'
const t = performance.now()
console.log(await measureFlops(), (performance.now() - t).toFixed(0), 'ms')
