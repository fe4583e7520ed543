"""DrugEnv."""
