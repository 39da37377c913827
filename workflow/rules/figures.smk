# rules for stage 'figures' (placeholder until the stage lands)
