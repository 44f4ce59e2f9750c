"""gdx — the government data sharing and exchange hub: pipeline and command line."""
