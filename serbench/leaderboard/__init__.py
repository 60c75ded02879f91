"""Leaderboards built from the results store alone."""

from serbench.leaderboard.aggregate import Board, build_boards

__all__ = ["Board", "build_boards"]
