"""What the model knows: the LRE (estimation, cache, faithfulness, tuning), the know-check and the attribute lens."""
