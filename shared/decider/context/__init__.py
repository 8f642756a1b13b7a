"""Context: what decide derives from a visit (season, place, local time, occasions, device)."""
