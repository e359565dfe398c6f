"""HTTP routes: each translates HTTP to one call on the answering core and back, nothing more."""
