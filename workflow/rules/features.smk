# rules for stage 'features' (placeholder until the stage lands)
