"""Scene descriptions: what each scene shows (tags today; people and events next)."""
