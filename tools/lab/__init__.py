"""The evaluation lab: protocols A (relistening) and B (discovery) of EVALUATION.md."""
