"""Pure DataFrame -> DataFrame transforms of each layer."""
