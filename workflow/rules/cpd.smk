# rules for stage 'cpd' (placeholder until the stage lands)
