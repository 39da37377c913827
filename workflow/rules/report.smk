# rules for stage 'report' (placeholder until the stage lands)
