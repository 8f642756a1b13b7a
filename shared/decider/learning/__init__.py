"""Learning: examples for VW, the policy, retrain, and the estimates of what a policy earns."""
