"""Report texts (translation.json), shipped as package data."""
