"""What every provider sandbox shares: tenants and their knobs, the OAuth token issuer,
rate and concurrency limits, fault injection, and the app that mounts them all."""
