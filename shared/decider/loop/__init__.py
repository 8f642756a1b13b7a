"""The loop's hot paths: decide, and the rewards and activations that follow."""
