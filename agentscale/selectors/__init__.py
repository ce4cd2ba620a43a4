"""Selectors: choose among rollouts given their verdicts (the ``Selector`` protocol).

- ``MajorityVote``, ``WeightedVote``: vote over normalised answers (``agentscale.answers``);
- ``BestScore``: the best verifier score (best-of-N);
- ``BestOfMajority``: the best-scored among the most frequent answers;
- ``BehaviourVote``: for code, a vote over what programs did on the checked inputs;
- ``ListwiseSelector``: a model sees every candidate in one shuffled prompt and picks one;
- ``KnockoutTournament``: a model judges pairs in a bracket;
- ``RecursiveTournament``: Recursive Tournament Voting, small groups voting on trajectory summaries;
- ``Synthesize``: a model writes a new answer from the candidates and their verdicts.

Every selector documents what it does on ties and when every candidate failed; failed rollouts
(``status != "ok"``) are never chosen, and no candidates gives ``Selection(rollout_id=None)``.
"""

from agentscale.selectors.behaviour_vote import BehaviourVote, behaviour_digest, behaviour_key
from agentscale.selectors.best_of_majority import BestOfMajority
from agentscale.selectors.best_score import BestScore
from agentscale.selectors.listwise import ListwiseSelector
from agentscale.selectors.majority_vote import MajorityVote
from agentscale.selectors.rtv import GroupVote, RecursiveTournament, TournamentResult
from agentscale.selectors.synthesis import Synthesize
from agentscale.selectors.tournament import KnockoutTournament
from agentscale.selectors.weighted_vote import WeightedVote, verdict_weight

__all__ = [
    "BehaviourVote",
    "BestOfMajority",
    "BestScore",
    "GroupVote",
    "KnockoutTournament",
    "ListwiseSelector",
    "MajorityVote",
    "RecursiveTournament",
    "Synthesize",
    "TournamentResult",
    "WeightedVote",
    "behaviour_digest",
    "behaviour_key",
    "verdict_weight",
]
