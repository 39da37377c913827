# rules for stage 'sweeps' (placeholder until the stage lands)
