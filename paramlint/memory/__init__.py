"""Stage 4, memory: what a training step allocates and frees, simulated per layer, and the FLOPs of a step."""
