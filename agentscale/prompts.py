"""The default rendering of a rollout request into prompt text.

A strategy asks for a rollout with a ``RolloutRequest``; an agent reads its fields and renders
them as it likes. ``render_request`` is the one default: recalled lessons on top (under
``LESSONS_HEADER``, above a ``---`` rule), then the task's prompt, then the prompt variant, the
plan, the candidates to refine with their feedback, and the strategy's own request. An agent that
renders its own prompt can reuse the parts (``render_lessons``, ``render_notes``).

Example:
    >>> from agentscale.types import RolloutRequest, Task
    >>> print(render_request(Task(prompt="2+2?"), RolloutRequest(plan="Add.")))
    2+2?
    <BLANKLINE>
    Follow this plan:
    Add.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentscale.types import Candidate, RolloutRequest, Task

__all__ = ["LESSONS_HEADER", "LESSONS_RULE", "render_candidates", "render_lessons", "render_notes", "render_request"]

LESSONS_HEADER = "Lessons learned on similar tasks (apply them where they fit):"
"""The line above recalled lessons, wherever they are rendered."""

LESSONS_RULE = "\n\n---\n\n"
"""What separates the lessons block from the task."""

_FEEDBACK_CHARS = 2000
_OUTPUT_CHARS = 6000


def render_lessons(lessons: Sequence[str]) -> str:
    """The numbered block of lessons under ``LESSONS_HEADER``; ``""`` for none."""
    lines = []
    for text in lessons:
        if text.strip():
            lines.append(f"{len(lines) + 1}. " + text.strip().replace("\n", "\n   "))
    return "\n".join([LESSONS_HEADER, *lines]) if lines else ""


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "\n[...]"


def render_candidates(candidates: Sequence[Candidate]) -> str:
    """Earlier attempts with what a check of each said; ``""`` for none."""
    if not candidates:
        return ""
    head = (
        "Your previous attempt and what a check of it said:"
        if len(candidates) == 1
        else f"{len(candidates)} earlier attempts and what a check of each said:"
    )
    blocks = [head]
    for c in candidates:
        score = f' score="{c.score:.2f}"' if c.score is not None else ""
        block = f"<candidate{score}>\n{_clip(c.output, _OUTPUT_CHARS)}\n</candidate>"
        if c.observations.strip():
            block += f"\nWhat it observed:\n{_clip(c.observations, _FEEDBACK_CHARS)}"
        block += f"\nFeedback: {_clip(c.feedback, _FEEDBACK_CHARS) or '(no details)'}"
        blocks.append(block)
    return "\n\n".join(blocks)


def render_notes(request: RolloutRequest) -> list[str]:
    """What a request adds after the task, in order: variant, plan, candidates, the strategy's feedback."""
    notes = [
        request.prompt_variant,
        f"Follow this plan:\n{request.plan}" if request.plan else None,
        render_candidates(request.candidates),
        request.feedback,
    ]
    return [n.strip() for n in notes if n and n.strip()]


def render_request(task: Task, request: RolloutRequest) -> str:
    """The default prompt for one rollout: lessons, then the task, then the request's notes.

    Args:
        task: the task as given (never modified by a strategy).
        request: the rollout's request.

    Returns:
        The prompt text; exactly ``task.prompt`` for a plain first sample without lessons.
    """
    body = "\n\n".join([task.prompt, *render_notes(request)])
    lessons = render_lessons(request.lessons)
    return f"{lessons}{LESSONS_RULE}{body}" if lessons else body
