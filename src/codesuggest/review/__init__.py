"""The coder's review screen (Gradio): a note's suggestions to accept, reject, replace or add,
each action written to the audit store.
"""

from codesuggest.review.app import Review, ReviewService, build_app, serve

__all__ = ["Review", "ReviewService", "build_app", "serve"]
