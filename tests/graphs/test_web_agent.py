"""The web agent's control flow with scripted models, on the real local site (really fetched):
multi-step browsing, forms, bad link numbers, redirect loops, hanging and huge pages, non-HTML,
limits; selection and scoring; the workflow and the graph."""

from __future__ import annotations

import asyncio

import pytest

from agentscale import ScaleContext, registry, scale
from agentscale.errors import ConfigError
from agentscale.graphs.web import (
    ObservedAnswer,
    SiteServer,
    WebAgent,
    WebAnswerScorer,
    WebConfig,
    WebLimits,
    WebWorkflow,
    build_web_graph,
    leads_note,
    link_named,
    short_answer,
    site_tasks,
    web_agent,
)
from agentscale.graphs.web.verify import START_PAGE, link_leads, observations_of, seen_on_a_page, unread_answer
from agentscale.rollout import RolloutContext
from agentscale.testing import FakeModel, FunctionModel, tool_call
from agentscale.types import Rollout, Task
from agentscale.workflows import WorkflowEnv


@pytest.fixture(scope="module")
def site():
    with SiteServer() as server:
        yield server


def calls(*steps):
    """A native-tool-calls script: one (tool, arguments) per step."""
    return FakeModel([{"content": "", "tool_calls": [tool_call(name, args)]} for name, args in steps])


def observations(rollout: Rollout) -> list[str]:
    return [m["content"] for m in rollout.trajectory if m.get("role") == "tool"]


async def test_multi_hop_browsing_fetches_real_pages(site):
    task = site_tasks(site.url, ["fair-park-year"])[0]
    model = calls(("follow_link", {"number": 6}), ("follow_link", {"number": 9}), ("follow_link", {"number": 8}),
                  ("follow_link", {"number": 8}), ("final_answer", {"answer": "It opened in 2005."}))
    since = len(site.requests)
    rollout = await web_agent(model, WebConfig(actions="tools"))(task, RolloutContext())
    assert rollout.status == "ok" and rollout.metadata["stop"] == "final"
    assert site.requests[since:] == [("GET", "/"), ("GET", "/events/"), ("GET", "/events/june.html"),
                                     ("GET", "/events/summer-fair.html"), ("GET", "/parks/millpond-gardens.html")]
    assert "Opened | 2005" in observations(rollout)[-2]
    assert [v["status"] for v in rollout.metadata["visits"]] == [200] * 5
    assert (await WebAnswerScorer().verify(task, rollout)).passed
    assert (await ObservedAnswer().verify(task, rollout)).passed
    # the first prompt holds the start page, so the model never spent a step opening it
    assert "You are on this page:" in rollout.trajectory[1]["content"]


async def test_forms_in_the_text_format(site):
    task = site_tasks(site.url, ["parcel-attempts"])[0]
    model = FakeModel([
        "Open the tracker.\n```follow_link\n{\"number\": 15}\n```",
        '```submit_form\n{"form": 1, "fields": {"tracking": "MW-9902"}}\n```',
        "Final answer: 2",
    ])
    since = len(site.requests)
    rollout = await web_agent(model, WebConfig(actions="text"))(task, RolloutContext())
    assert rollout.answer == "2" and ("POST", "/parcels/track tracking=MW-9902&source=portal") in site.requests[since:]
    assert (await WebAnswerScorer().verify(task, rollout)).passed


async def test_mistakes_and_hostile_pages_are_observations(site):
    task = site_tasks(site.url, ["hall-capacity"])[0]
    model = calls(
        ("follow_link", {"number": 99}),
        ("follow_link", {"number": "seven"}),
        ("open_url", {"url": "/edge/redirect-loop"}),
        ("open_url", {"url": "/edge/slow?n=5"}),
        ("open_url", {"url": "/edge/binary"}),
        ("open_url", {"url": "/edge/huge?n=20"}),
        ("open_url", {"url": "http://169.254.169.254/latest/meta-data/"}),
        ("open_url", {"url": "/edge/json"}),
        ("submit_form", {"fields": {"nope": "x"}}),
        ("final_answer", {"answer": "unknown"}),
        ("final_answer", {"answer": "unknown"}),
    )
    config = WebConfig(actions="tools", max_steps=12, limits=WebLimits(timeout=1.0, max_bytes=50_000), final_refusals=1)
    rollout = await web_agent(model, config)(task, RolloutContext())
    seen = observations(rollout)
    assert rollout.status == "ok" and rollout.output == "unknown"
    assert seen[0].startswith("Error: There is no link 99 on this page: its links are numbered 1 to 18")
    assert seen[1].startswith("Error: bad arguments for follow_link")  # the loop checks the schema
    assert seen[2].startswith("Error: Too many redirects (more than 5)")
    assert "did not answer within 1 s" in seen[3]
    assert "is not a page I can read: it is image/png" in seen[4]
    assert "Only the first 50,000 bytes of this page were read." in seen[5]
    assert "169.254.169.254 is not an allowed host" in seen[6]
    assert '"population": 38000' in seen[7]
    assert "has no forms" in seen[8]
    # an answer on no page read is sent back (here once: the model is told to look), then taken as it is
    assert seen[9].startswith("Error: the answer 'unknown' is on no page you have read")
    # the unanswerable answer is not on any page it read
    assert not (await ObservedAnswer().verify(task, rollout)).passed


async def test_the_step_limit_ends_a_wandering_rollout(site):
    task = site_tasks(site.url, ["hall-capacity"])[0]
    model = FakeModel([{"content": "", "tool_calls": [tool_call("go_back", {})]}], cycle=True)
    config = WebConfig(actions="tools", max_steps=3, repeat_limit=None)  # else: it ends as repeating
    rollout = await web_agent(model, config)(task, RolloutContext())
    assert rollout.metadata["stop"] == "steps" and rollout.output == "" and rollout.answer is None
    assert all("no earlier page" in o for o in observations(rollout))


async def test_the_page_limit_is_per_rollout(site):
    task = site_tasks(site.url, ["hall-capacity"])[0]
    model = FakeModel([{"content": "", "tool_calls": [tool_call("follow_link", {"number": 1})]}], cycle=True)
    # link 1 leads to the same page each time: repeat_limit off, or the loop ends it as repeating
    agent = web_agent(model, WebConfig(actions="tools", max_steps=4, limits=WebLimits(max_pages=3), repeat_limit=None))
    for _ in range(2):  # a second rollout starts with a fresh count
        seen = observations(await agent(task, RolloutContext()))
        assert [("page limit is reached" in o) for o in seen] == [False, False, True, True]


async def test_a_start_page_that_fails_is_said_in_the_prompt():
    task = WebWorkflow().task({"question": "Anything?", "url": "http://127.0.0.1:9/"})
    model = calls(("final_answer", {"answer": "no"}))
    rollout = await web_agent(model, WebConfig(actions="tools"))(task, RolloutContext())
    assert "The start page could not be opened: Could not connect" in rollout.trajectory[1]["content"]


async def test_majority_over_rollouts_under_scale(site):
    task = site_tasks(site.url, ["route12-minutes"])[0]

    def policy(call):  # two rollouts answer 23, one answers 31: the vote says 23
        wrong = call.seed is not None and call.seed % 3 == 2
        turns = sum(1 for m in call.prompt if m.get("role") == "assistant")
        if turns == 0:
            return {"content": "", "tool_calls": [tool_call("follow_link", {"number": 4})]}
        if turns == 1:
            return {"content": "", "tool_calls": [tool_call("follow_link", {"number": 10 if wrong else 11})]}
        return {"content": "", "tool_calls": [tool_call("final_answer", {"answer": "31" if wrong else "23 minutes"})]}

    graph = scale(web_agent(FunctionModel(policy), WebConfig(actions="tools")), "majority", n=3)
    state = await graph.ainvoke({"task": task}, context=ScaleContext())
    chosen = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert sorted(r.answer for r in state["rollouts"]) == ["23 minutes", "23 minutes", "31"]
    assert chosen.answer == "23 minutes" and (await WebAnswerScorer().verify(task, chosen)).passed


async def test_the_graph_alone_and_in_scale(site):
    task = site_tasks(site.url, ["parks-riverside-area"])[0]
    script = {2: ("follow_link", {"number": 11}), 4: ("follow_link", {"number": 8})}  # by the prompt's length

    def step(call):  # each rollout follows its own script, however the two interleave
        name, args = script.get(len(call.prompt), ("final_answer", {"answer": "14"}))
        return {"content": "", "tool_calls": [tool_call(name, args)]}

    model = FunctionModel(step)
    graph = build_web_graph(model=model, config=WebConfig(actions="tools"))
    state = await graph.ainvoke({"task": task})
    assert state["rollout"].answer == "14"
    scaled = scale(graph, "best_of_n", n=2, verifier=ObservedAnswer())
    state = await scaled.ainvoke({"task": task}, context=ScaleContext())
    assert state["selected"].status == "chosen" and all(v.passed for v in state["verdicts"].values())


def test_short_answers():
    assert short_answer("Answer: B12.\nbecause the catalogue says so") == "B12"
    assert short_answer("The answer is 'Helen Okafor'") == "Helen Okafor"
    assert short_answer("  ") is None
    # the line that says the answer, after the working; "Answered" is no lead
    assert short_answer("I searched for it:\n1. opened the form\n\nThe final answer is: 4 hours.") == "4 hours"
    assert short_answer("Answered in 2005") == "Answered in 2005"


async def test_answer_checks():
    task = Task(prompt="q", expected="Elm", metadata={"accept": ["Elm ward"]})
    scorer = WebAnswerScorer()
    assert scorer.matches("Elm ward", task) and scorer.matches("the Elm ward", task) and not scorer.matches("Oak", task)
    number = Task(prompt="q", expected="14")
    assert scorer.matches("14 hectares", number) and not scorer.matches("114", number)
    assert not scorer.matches("routes 14 and 15", number)
    failed = Rollout(task_id="t", status="error", error="boom")
    assert not (await scorer.verify(number, failed)).passed
    assert (await ObservedAnswer().verify(number, failed)).feedback == "The rollout failed: boom."


def test_workflow_tasks_and_options():
    wf = registry.create("workflows", "web")
    task = wf.task("When does the fair start? http://127.0.0.1:8000/events/")
    assert task.metadata["start_url"] == "http://127.0.0.1:8000/events/" and task.prompt.startswith("When does")
    assert wf.task({"question": "q?", "url": "http://h/", "answer": "4", "id": "x"}).expected == "4"
    for bad in ("no url here", "http://h/", {"question": "q"}, 3):
        with pytest.raises(ConfigError):
            wf.task(bad)
    parts = wf.build(WorkflowEnv(model=FakeModel(["x"]), options={"max_steps": 4, "allow_hosts": ["*.example.org"]}))
    assert isinstance(parts.agent, WebAgent) and parts.agent.config.max_steps == 4
    assert parts.agent.config.allow_hosts == ("*.example.org",) and parts.selector == "majority"
    with pytest.raises(ConfigError, match="bad web options"):
        wf.build(WorkflowEnv(model=FakeModel(["x"]), options={"max_stepz": 4}))


async def test_a_cancelled_rollout_closes_its_session(site):
    task = site_tasks(site.url, ["hall-capacity"])[0]
    model = FakeModel([{"content": "", "tool_calls": [tool_call("open_url", {"url": "/edge/slow?n=20"})]}])
    agent = web_agent(model, WebConfig(actions="tools", limits=WebLimits(timeout=30)))
    job = asyncio.create_task(agent(task, RolloutContext()))
    await asyncio.sleep(1.0)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job


def test_langgraph_json_lists_the_web_graphs():
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "graphs"
    spec = json.loads((root / "langgraph.json").read_text())
    for name in ("web", "miniwob"):
        path, attr = spec["graphs"][name].split(":")
        module_spec = importlib.util.spec_from_file_location(f"_lg_{name}", root / path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        graph = getattr(module, attr)({"configurable": {"api_base": "http://127.0.0.1:1/v1"}})
        assert {"browse", "play"} & set(graph.get_graph().nodes)


def test_only_pages_count_as_read():
    trajectory = [
        {"role": "system", "content": "Answer with the short answer only, e.g. 42."},
        {"role": "user", "content": f"How big is Riverside Park?\n\n{START_PAGE}\n\nParks [5] | Riverside Park: 14 ha"},
        {"role": "assistant", "content": "Final answer: Riverside"},
        {"role": "user", "content": "Error: no action found: reply with `Final answer: <answer>`"},
        {"role": "tool", "tool_call_id": "c1", "name": "follow_link", "content": "Error: There is no link 99"},
        {"role": "user", "name": "find_in_page", "content": "Observation:\nOpened | 1962"},
    ]
    seen = observations_of(trajectory)
    assert "14 ha" in seen and "1962" in seen
    assert "How big" not in seen and "<answer>" not in seen and "link 99" not in seen
    assert unread_answer("14 ha", trajectory) is None and unread_answer("It opened in 1962.", trajectory) is None
    for made_up in ("42", "How big", "answer", "99", "5"):  # the prompt, an example, errors, link numbers
        assert "is on no page you have read" in unread_answer(made_up, trajectory)


async def test_an_answer_from_no_page_is_sent_back_and_the_agent_looks(site):
    task = site_tasks(site.url, ["fair-park-year"])[0]
    model = calls(("final_answer", {"answer": "1998"}), ("follow_link", {"number": 6}), ("follow_link", {"number": 9}),
                  ("follow_link", {"number": 8}), ("follow_link", {"number": 8}), ("final_answer", {"answer": "2005"}))
    rollout = await web_agent(model, WebConfig(actions="tools"))(task, RolloutContext())
    assert rollout.answer == "2005" and rollout.metadata["steps"] == 6
    refusal = observations(rollout)[0]
    assert refusal.startswith("Error: the answer '1998' is on no page you have read")
    # the refusal names the start page's links that share words with the question ("town's parks", "open"), a
    # link alone on its line told by the whole line ("opening hours")
    assert ("links on this page that may lead there: Parks [5], Maplewood Public Library: branches, opening hours "
            "and the ca [8], Town Council: councillors, committees and meeting minutes [9], Parks and gardens [11]"
            ) in refusal
    assert (await WebAnswerScorer().verify(task, rollout)).passed


def test_link_leads_are_the_links_sharing_words_with_the_question():
    links = [(1, "Maplewood"), (2, "Library"), (5, "Parks"), (8, "Maplewood Public Library"), (11, "Parks and gardens"),
             (12, "Bus timetables"), (13, "Library")]
    question = "Use the library catalogue: how many copies are at the North branch?"
    assert link_leads(question, links) == [(2, "Library"), (8, "Maplewood Public Library")]  # each text once
    assert link_leads("What is the park's area?", links)[:2] == [(5, "Parks"), (11, "Parks and gardens")]
    assert link_leads("When does the number 12 BUS leave?", links) == [(12, "Bus timetables")]
    # most shared words first; words that say nothing ("how", "many", "the", "answer", a URL) lead nowhere
    assert link_leads("park gardens", links)[0] == (11, "Parks and gardens")
    assert link_leads("How many? Answer at http://127.0.0.1:8000/library", links) == []
    assert link_leads("anything", []) == [] and len(link_leads("library", [(i, "Library") for i in range(9)])) == 1
    refusal = unread_answer("7", [], [(5, "Parks")])
    assert "may lead there: Parks [5] (follow_link with its number)" in refusal


def test_a_reply_that_only_names_a_link_is_read_as_following_it():
    links = [(1, "Maplewood"), (5, "Parks"), (11, "Parks and gardens")]
    for reply in ("[11]", "Parks and gardens [11]", " Parks and gardens [11]?", "follow_link 11", "follow_link(11)",
                  'follow_link {"number": 11}', "```\n[11]\n```"):
        assert link_named(reply, links) == 11, reply
    # more than a link, no link, or a number that is no link of the page: not an action
    for reply in ("I think [5] and [11]", "Final answer: 11", "11", "[12]", "Parks [5]\nthen Oak Hill [9]", ""):
        assert link_named(reply, links) is None, reply


async def test_a_small_models_link_choice_is_followed_in_either_format(site):
    task = site_tasks(site.url, ["parks-riverside-area"])[0]
    text = FakeModel(["Parks and gardens [11]", "Riverside Park [8]", "Final answer: 14"])
    since = len(site.requests)
    rollout = await web_agent(text, WebConfig(actions="text"))(task, RolloutContext())
    assert site.requests[since:] == [("GET", "/"), ("GET", "/parks/"), ("GET", "/parks/riverside-park.html")]
    assert rollout.answer == "14" and (await WebAnswerScorer().verify(task, rollout)).passed
    seen = [m["content"] for m in rollout.trajectory if m.get("name") == "follow_link"]
    assert "(Your reply was read as follow_link 11.)" in seen[0] and "Area | 14 hectares" in seen[1]
    # the native format: plain text that only names a link follows it instead of ending the rollout
    native = FakeModel(["[5]", {"content": "", "tool_calls": [tool_call("final_answer", {"answer": "x"})]}])
    rollout = await web_agent(native, WebConfig(actions="tools", final_refusals=0))(task, RolloutContext())
    assert [v["url"].removeprefix(site.url) for v in rollout.metadata["visits"]] == ["/", "/parks/"]
    # off: the same reply is the final answer
    off = await web_agent(FakeModel(["[5]"]), WebConfig(actions="tools", final_refusals=0, plain_links=False))(
        task, RolloutContext())
    assert off.output == "[5]" and len(off.metadata["visits"]) == 1


async def test_each_page_ends_with_its_lines_and_links_sharing_the_questions_words(site):
    task = site_tasks(site.url, ["parks-oak-hill-year"])[0]
    rollout = await web_agent(FakeModel(["[11]", "[9]", "Final answer: 1962"]), WebConfig(actions="text"))(
        task, RolloutContext())
    first = rollout.trajectory[1]["content"]
    assert first.rstrip().endswith("Which link leads to the answer: Parks [5], Maplewood Public Library: branches, "
                                   "opening hours and the ca [8], Parks and gardens [11]?")
    oak_hill = [m["content"] for m in rollout.trajectory if m.get("name") == "follow_link"][1]
    # "open" meets "Opened": the line with the answer is named beside the question's words
    assert "Lines of this page with the question's words:\n" in oak_hill and "  Opened | 1962\n" in oak_hill
    assert rollout.answer == "1962" and (await WebAnswerScorer().verify(task, rollout)).passed
    plain = await web_agent(FakeModel(["Final answer: 1962"]), WebConfig(actions="text", leads=False))(
        task, RolloutContext())
    assert "Which link leads" not in plain.trajectory[1]["content"]


def test_lines_and_links_named_below_a_page():
    question = "How many hectares is Riverside Park?"
    page = "# Riverside Park\nRiverside Park has a bandstand.\nArea | 14 hectares\nAll parks [8]\nOpened | 1987"
    note = leads_note(question, page, [(5, "Parks"), (8, "All parks"), (9, "Contact")], title="Riverside Park")
    # a page about the question: the lines with its other words (the heading and a link line are left out)
    assert note.splitlines()[:2] == ["Lines of this page with the question's words:", "  Area | 14 hectares"]
    assert note.endswith("Which link leads to the answer: Parks [5], All parks [8]?")
    # a page about something else: no lines, only the links ("a riverside town of 38,000" is no park's area)
    home = leads_note(question, "A riverside town of 38,000 people.\nParks [5]", [(5, "Parks")], title="Maplewood")
    assert home == "Which link leads to the answer: Parks [5]?"
    assert leads_note("How many hectares?", "Nothing here", [(9, "Contact")]) == ""


def test_the_forms_list_is_not_a_pages_words():
    forms = "Search\n\nForms (send one with submit_form):\n  form 1 (GET http://127.0.0.1:8000/search): q (text)"
    assert not seen_on_a_page("June 1st", forms) and not seen_on_a_page("1", forms)
    assert seen_on_a_page("Search", forms)


async def test_the_links_named_below_a_page_lead_to_pages_not_visited_yet(site):
    # half the 1.5B's rollouts went round two pages, each naming the other as the way to the answer
    task = site_tasks(site.url, ["parks-oak-hill-year"])[0]
    rollout = await web_agent(FakeModel(["[11]", "[1]", "Final answer: 1962"]), WebConfig(actions="text"))(
        task, RolloutContext())
    parks, home = [m["content"] for m in rollout.trajectory if m.get("name") == "follow_link"][:2]
    assert parks.startswith("Observation:\nPage: Parks")
    asked = parks.rsplit("Which link leads to the answer: ", 1)[1]
    assert "Oak Hill Park [9]" in asked and "Parks [5]" not in asked  # [5] is this page itself
    asked = home.rsplit("Which link leads to the answer: ", 1)[1]
    assert "[8]" in asked and "Parks [5]" not in asked and "Parks and gardens [11]" not in asked
    # where every link sharing the question's words was visited, they are named all the same
    from agentscale.graphs.web.agent import _fresh_first
    from agentscale.graphs.web.session import WebLimits, WebSession

    async with WebSession(WebLimits()) as web:
        await web.open(site.url + "/parks/oak-hill.html")
        await web.open(site.url + "/parks/")
        named = [n for n, _ in link_leads(task.prompt, _fresh_first(task.prompt, web))]
        assert 9 not in named and 8 in named
        await web.open(site.url + "/parks/riverside-park.html")
        await web.open(site.url + "/parks/millpond-gardens.html")
        await web.open(site.url + "/parks/")
        assert 9 in [n for n, _ in link_leads(task.prompt, _fresh_first(task.prompt, web))]
