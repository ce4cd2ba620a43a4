"""Selectors: choose among rollouts given their verdicts (the ``Selector`` protocol).

- ``MajorityVote``, ``WeightedVote``: vote over normalised answers (``agentscale.answers``);
- ``BestScore``: the best verifier score (best-of-N);
- ``BestOfMajority``: the best-scored among the most frequent answers;
- ``ActionVote``: for agents whose result is an action, a vote over normalised tool calls;
- ``BehaviourVote``: for code, a vote over what programs did on the checked inputs;
- ``BehaviourCluster``: for code, the largest group of top-scored programs that behave alike on
  generated inputs (run in a sandbox);
- ``DualAgreement``: for code, behaviour groups weighed by the model-written tests they pass (CodeT);
- ``CodeJudge``: for code, a model picks among the distinct behaviours, shown as code and outputs;
- ``code_selection``: the default for code (``"code"`` in the registry's verifiers and selectors);
- ``ListwiseSelector``: a model sees every candidate in one shuffled prompt and picks one;
- ``KnockoutTournament``: a model judges pairs in a bracket;
- ``RecursiveTournament``: Recursive Tournament Voting, small groups voting on trajectory summaries;
- ``Synthesize``: a model writes a new answer from the candidates and their verdicts.

Every selector documents what it does on ties and when every candidate failed; failed rollouts
(``status != "ok"``) are never chosen, and no candidates gives ``Selection(rollout_id=None)``.
"""

from agentscale.selectors.action_vote import ActionVote, action_key
from agentscale.selectors.behaviour_cluster import BehaviourCluster
from agentscale.selectors.behaviour_vote import BehaviourVote, behaviour_digest, behaviour_key
from agentscale.selectors.best_of_majority import BestOfMajority
from agentscale.selectors.best_score import BestScore
from agentscale.selectors.code_default import CodeSelection, code_selection, code_selector, code_verifier
from agentscale.selectors.code_judge import CodeJudge
from agentscale.selectors.dual_agreement import DualAgreement
from agentscale.selectors.listwise import ListwiseSelector
from agentscale.selectors.majority_vote import MajorityVote
from agentscale.selectors.rtv import GroupVote, RecursiveTournament, TournamentResult
from agentscale.selectors.synthesis import Synthesize
from agentscale.selectors.tournament import KnockoutTournament
from agentscale.selectors.weighted_vote import WeightedVote, verdict_weight

__all__ = [
    "ActionVote",
    "BehaviourVote",
    "BehaviourCluster",
    "BestOfMajority",
    "BestScore",
    "CodeJudge",
    "CodeSelection",
    "DualAgreement",
    "GroupVote",
    "KnockoutTournament",
    "ListwiseSelector",
    "MajorityVote",
    "RecursiveTournament",
    "Synthesize",
    "TournamentResult",
    "WeightedVote",
    "action_key",
    "behaviour_digest",
    "behaviour_key",
    "code_selection",
    "code_selector",
    "code_verifier",
    "verdict_weight",
]
