"""What the model says: greedy generation and ranking of candidate answers, and answer matching."""
