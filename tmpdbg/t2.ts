import { partition } from '../src/planner/partition.js'
import * as cost from '../src/planner/cost.js'
import { plannerTimes } from '../bench/planner.js'
// time the 16/8 throughput case split: count predict calls
let n = 0
const orig = cost.predict
console.log(typeof orig)
plannerTimes(() => {})
