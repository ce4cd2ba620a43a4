"""Run (or resume) a best-of-6 scaled run checkpointed in SQLite; used by test_resume.py.

usage: python _resume_script.py DB COUNTER first|resume

Every agent invocation appends its sample index to COUNTER. In the first run, samples 4 and 5
hang, so the parent can kill the process after 0-3 have finished.
"""

import asyncio
import json
import os
import sys

from agentscale import Rollout, RolloutRequest, Task, Usage
from agentscale.strategies import ScaleContext, scale, sqlite_checkpointer

DB, COUNTER, MODE = sys.argv[1], sys.argv[2], sys.argv[3]


async def agent(task: Task, request: RolloutRequest) -> Rollout:
    index = request.index
    with open(COUNTER, "a") as f:
        f.write(f"{index}\n")
        f.flush()
        os.fsync(f.fileno())
    if MODE == "first" and index >= 4:
        await asyncio.sleep(600)
    return Rollout(task_id=task.id, output=f"answer {index}", usage=Usage(completion_tokens=5, calls=1))


async def main() -> None:
    async with sqlite_checkpointer(DB) as saver:
        graph = scale(agent, n=6, checkpointer=saver)
        config = {"configurable": {"thread_id": "run-1"}}
        given = {"task": Task(id="t", prompt="p")} if MODE == "first" else None
        state = await graph.ainvoke(given, config=config, context=ScaleContext(), durability="sync")
        print(
            json.dumps(
                {
                    "rollouts": [[r.id, r.metadata["index"], r.status] for r in state["rollouts"]],
                    "selected": state["selected"].rollout_id,
                }
            )
        )


asyncio.run(main())
