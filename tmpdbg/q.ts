import { plannerQuality } from '../bench/planner.js'
console.log(plannerQuality())
