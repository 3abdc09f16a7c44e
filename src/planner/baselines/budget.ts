/**
 * A work budget for the baselines' dynamic programs, counted in DP steps (pure, no clock): a
 * baseline whose state space outgrows it stops and says so (`dora simulate --compare` prints it
 * in the baseline's row) instead of running for minutes. PipeEdge's DP is O(L^2 K^2 prod(n_k + 1))
 * in its own paper; on 48 devices of six kinds that is billions of steps.
 */
export const DP_STEP_BUDGET = 3_000_000

export class BudgetExceeded extends Error {
  constructor(readonly planner: string, readonly steps: number) {
    super(`${planner} stopped after ${steps.toLocaleString('en')} DP steps (its budget): the fleet's state space is too large for it`)
    this.name = 'BudgetExceeded'
  }
}

/** Counts DP steps; throws BudgetExceeded past the budget. */
export class StepBudget {
  private steps = 0
  constructor(private readonly planner: string, private readonly budget = DP_STEP_BUDGET) {}

  spend(n = 1): void {
    this.steps += n
    if (this.steps > this.budget) throw new BudgetExceeded(this.planner, this.steps)
  }
}
