"""The coder's review screen (Gradio): a note's suggestions to accept, reject, replace or add,
each action written to the audit store.

``state`` holds the review logic, ``service`` the suggester, audit store and work queues,
``views`` the screen's HTML, ``layout`` and ``screen`` the Gradio components and event handlers,
and ``app`` the Gradio app that wires them; none of them imports Gradio at import time.
"""

from codesuggest.review.app import build_app, serve
from codesuggest.review.service import ReviewService
from codesuggest.review.state import Review

__all__ = ["Review", "ReviewService", "build_app", "serve"]
