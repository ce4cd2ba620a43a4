"""Checks for the web agent's answers.

- ``ObservedAnswer`` (for selection): the answer must appear in what the rollout's tools showed
  it (its observations). An answer the agent never read is likely made up. It uses only what the
  agent saw, never the expected answer, so best-of-N may select with it.
- ``WebAnswerScorer`` (for scoring only): the answer against ``task.expected`` (and
  ``metadata["accept"]``), normalised as ``agentscale.answers`` does; a name or phrase also
  counts when a short answer contains it as whole words ("Elm ward" for "Elm").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentscale.answers import answers_match, extract_answer, normalize_answer
from agentscale.types import Message, Rollout, Task, Verdict

__all__ = [
    "ObservedAnswer", "WebAnswerScorer", "link_leads", "observations_of", "seen_on_a_page", "unread_answer",
    "word_stems",
]  # fmt: skip


START_PAGE = "You are on this page:"
"""Heads the start page the web agent is shown below the question."""


def observations_of(rollout: Rollout | Sequence[Message]) -> str:
    """The text of the pages a rollout (or a trajectory) was shown: tool results (tool messages, and
    in the text format ``Observation:`` turns) and the start page below the question. Errors (a
    refused action, a refused answer) and the question itself are not pages."""
    parts = []
    for message in rollout.trajectory if isinstance(rollout, Rollout) else rollout:
        role, content = message.get("role"), message.get("content")
        if not isinstance(content, str) or role not in ("tool", "user"):
            continue
        if role == "user" and not message.get("name"):
            if START_PAGE in content:
                parts.append(content[content.index(START_PAGE):])
            continue
        if not content.removeprefix("Observation:").lstrip().startswith("Error:"):
            parts.append(content)
    return "\n".join(parts)


def _words(text: str) -> str:
    # a sentence's full stop is not its last word's ("weekends." is "weekends"); "4.2" and "r.mensah@x.org" keep theirs
    return " ".join(w.rstrip(".") for w in re.findall(r"[\w@.$-]+", text.lower()))


# what the renderer adds to a page: link numbers ("Parks [11]"), form markers ("[form 1]", "[link 4]") and the
# forms list ("  form 1 (GET ...")
_MARKERS = re.compile(r"\[(?:\d+|form \d+|link \d+)\]|^\s*form \d+ \(", re.MULTILINE)


def seen_on_a_page(answer: str, observations: str) -> bool:
    """Whether ``answer`` (or the answer extracted from it: "It opened in 2005." gives 2005) occurs
    in ``observations`` as whole words, ignoring case and spacing. Link numbers and form markers
    are not the page's words: "11" is not on a page because its eleventh link reads "Parks [11]"."""
    seen = f" {_words(_MARKERS.sub(' ', observations))} "
    forms = {_words(answer), _words(extract_answer(answer) or "")} - {""}
    return any(f" {form} " in seen for form in forms)


# words that say nothing about where an answer is ("how many", "the", "answer", "start at")
_STOP = frozenset(
    "a an and any are as at be by can did do does for from had has have how in into is it its many much of on "
    "or per the their there these this that to was were what when where which who whom whose why with you your "
    "use using answer answers short only start page site web http https www com org net example".split()
)


def _stem(word: str) -> str:
    """A crude stem: a possessive's ``'s``, a plural's ``s`` and ``ed``/``ing`` dropped, so "Parks"
    and "park", "opened" and "open", "collected" and "collection" meet (the second as ``collect``)."""
    word = word.removesuffix("'s")
    for suffix, keep in (("ing", 4), ("ion", 5), ("ed", 3), ("s", 3)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep:
            return word[: -len(suffix)]
    return word


def word_stems(text: str) -> set[str]:
    """Content words of ``text``, lowercased and stemmed (``_stem``): what a question and a line share.

        >>> word_stems("In what year did Oak Hill Park open?") == word_stems("oak hill parks opened, years")
        True
    """
    words = re.findall(r"[a-z][a-z']+", re.sub(r"https?://\S+", " ", text.lower()))
    return {_stem(w) for w in words if w not in _STOP and len(w) > 2}


def link_leads(question: str, links: Sequence[tuple[int, str]], *, limit: int = 4) -> list[tuple[int, str]]:
    """The links (``(number, text)``) whose text shares words with ``question``, most shared first
    (page order breaks ties), at most ``limit``: where a model that answered too soon could look.

        >>> link_leads("How many hectares is Riverside Park?", [(1, "Home"), (5, "Parks"), (9, "Bus fares")])
        [(5, 'Parks')]
    """
    asked = word_stems(question)
    shared = [(len(asked & word_stems(text)), i, (number, text)) for i, (number, text) in enumerate(links)]
    ranked = sorted((s for s in shared if s[0] > 0), key=lambda s: (-s[0], s[1]))
    seen: set[str] = set()
    leads = []
    for _, _, (number, text) in ranked:
        if text.lower() not in seen:  # the same link in the menu and the body: name it once
            seen.add(text.lower())
            leads.append((number, text))
    return leads[:limit]


def unread_answer(
    answer: str, trajectory: Sequence[Message], leads: Sequence[tuple[int, str]] = ()
) -> str | None:
    """The web agent's check of its own final answer (``build_agent_graph(check_final=...)``): a
    refusal when the answer is on no page the trajectory read, else ``None``. Small models answer
    from the question alone or copy an example; a refusal sends them to look, naming ``leads``
    (links of the page on screen that share words with the question, from ``link_leads``)."""
    if seen_on_a_page(answer, observations_of(trajectory)):
        return None
    where = "follow a link [n] that leads there, or search the site"
    if leads:
        named = ", ".join(f"{text[:60]} [{number}]" for number, text in leads)
        where = f"links on this page that may lead there: {named} (follow_link with its number), or search the site"
    return (f"the answer {answer.strip()!r:.80} is on no page you have read. Find the page that says it: "
            f"{where}; then answer exactly as that page writes it.")


@dataclass
class ObservedAnswer:
    """Passes a rollout whose short answer (or the answer extracted from it) occurs in its own
    observations (score 1); an answer none of its pages showed scores 0. Case and spacing are ignored.

    Attributes:
        name: recorded as ``Verdict.verifier``.
    """

    name: str = "observed_answer"

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout by what it saw."""
        answer = (rollout.answer or rollout.output or "").strip()
        if not rollout.ok or not answer:
            why = "no final answer" if rollout.ok else f"the rollout failed: {rollout.error or rollout.status}"
            return Verdict(rollout_id=rollout.id, score=0.0, passed=False, feedback=why.capitalize() + ".",
                           verifier=self.name)
        found = seen_on_a_page(answer, observations_of(rollout))
        feedback = (f"The answer {answer!r} appears on a page you read." if found else
                    f"The answer {answer!r} does not appear on any page you read: find it on a page first.")
        return Verdict(rollout_id=rollout.id, score=1.0 if found else 0.0, passed=found, feedback=feedback,
                       verifier=self.name, evidence={"answer": answer})


@dataclass
class WebAnswerScorer:
    """Scores the answer against ``task.expected`` and ``task.metadata["accept"]`` (scoring only).

    Attributes:
        max_words: a longer answer never counts by containing the expected phrase.
        name: recorded as ``Verdict.verifier``.
    """

    max_words: int = 8
    name: str = "web_answer"

    def matches(self, answer: str, task: Task) -> bool:
        """Whether ``answer`` is right for ``task``."""
        expected = [task.expected, *task.metadata.get("accept", [])]
        tries = {answer, extract_answer(answer) or answer}
        for want in (e for e in expected if e):
            if any(answers_match(a, want) for a in tries) or normalize_answer(answer) == normalize_answer(want):
                return True
            if re.fullmatch(r"[-+$\d.,/%]+", want.strip()):
                continue  # a number must match as a number
            if len(answer.split()) <= self.max_words and f" {_words(want)} " in f" {_words(answer)} ":
                return True
        return False

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout against the expected answer (never shown in the feedback)."""
        answer = (rollout.answer or rollout.output or "").strip()
        ok = bool(answer) and rollout.ok and task.expected is not None and self.matches(answer, task)
        feedback = "Correct." if ok else ("No answer." if not answer else "Wrong answer.")
        return Verdict(rollout_id=rollout.id, score=1.0 if ok else 0.0, passed=ok, feedback=feedback,
                       verifier=self.name, evidence={"answer": answer})
