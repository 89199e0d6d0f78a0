"""Tests of the pure service runtime: cron, identities, state, partition mapping, triggers."""
