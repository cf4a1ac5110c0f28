"""A run's configuration: the Hydra schema, the typed view of a composed config, model entries."""
