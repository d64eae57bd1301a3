"""The station's command-line verbs, one module per area; each registers its sub-commands."""
