# rules for stage 'reconstruction' (placeholder until the stage lands)
