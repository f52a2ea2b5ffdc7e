"""What the registry captures about where a run happened: git, the environment, identity."""
