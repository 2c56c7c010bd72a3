"""Stage 2, validation: the published JSON Schemas, how they are generated, and the validator."""
