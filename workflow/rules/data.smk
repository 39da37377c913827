# rules for stage 'data' (placeholder until the stage lands)
