"""Stage 3, the model: the layer graph, the layer catalogue, shapes and counts, the training setup, budgets."""
