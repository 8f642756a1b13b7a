"""The wire: the API resolver, Personalizer's shapes, and history files, translated to the core."""
