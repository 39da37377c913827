# rules for stage 'models' (placeholder until the stage lands)
