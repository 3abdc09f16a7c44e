import { plannerTimes } from '../bench/planner.js'
for (let k = 0; k < 2; k++) plannerTimes((s) => console.log(s))
