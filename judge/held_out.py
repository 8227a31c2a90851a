"""Moved to judge/generate/held_out.py. This name stays only for scripts/reply.py, which is being rewritten on its own
branch (issue 18, step 4): delete this file once it imports judge.generate.held_out."""

from judge.generate.held_out import prompt_problem

__all__ = ["prompt_problem"]
