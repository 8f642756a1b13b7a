"""The only modules that call AWS: the decision log, the model store and the registry."""
