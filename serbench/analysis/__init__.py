"""Analysis over stored records beyond the boards: significance tests and run-to-run comparison."""
