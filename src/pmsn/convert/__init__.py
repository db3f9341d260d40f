"""Weight import from other spiking-network libraries (docs/convert.md)."""
