"""Best-of-4 on one HumanEval problem with the embedded model and a sandboxed verifier (README quick start)."""

import asyncio

from agentscale import Budget, ScaleContext, scale
from agentscale.datasets import load_humaneval
from agentscale.graphs.humaneval import humaneval_agent
from agentscale.llm import LLM
from agentscale.sandboxes import open_pool
from agentscale.selectors import code_selection
from agentscale.servers import LlamaCppServer


async def main() -> None:
    async with LlamaCppServer() as srv, open_pool("auto", size=4) as pool:
        # the HumanEval agent sends its own chat-template text to the completion endpoint
        async with LLM(srv.model, api_base=srv.api_base, profile="completion", timeout=600) as llm:
            chosen = code_selection(pool)  # the docstring's examples, then behaviour clustering among the tied
            graph = scale(humaneval_agent(llm), "best_of_n", n=4, verifier=chosen.verifier, selector=chosen.selector)
            task = load_humaneval([12])[0]
            state = await graph.ainvoke({"task": task}, context=ScaleContext(budget=Budget(max_tokens=20_000)))
            selection = state["selected"]  # status: "chosen", "none_passed" or "none_ran"
            best = selection.require()  # the chosen id; raises AllRolloutsFailed when nothing ran
            print(selection.status, state["verdicts"][best].feedback)  # e.g. chosen 2 of 2 checks passed.
            print(next(r.output for r in state["rollouts"] if r.id == best))


asyncio.run(main())
