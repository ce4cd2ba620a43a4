"""MiniWoB++ episodes in a real headless Chromium (offline), played by scripted policies that read
the page the tools show; the workflow's task parsing. Browser tests skip without Chromium locally
and fail under CI=true (``make test`` installs it with scripts/chromium-deps.sh)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re

import pytest

from agentscale import ScaleContext, registry, scale
from agentscale.errors import ConfigError, ToolError
from agentscale.graphs.web import (
    BrowserPool,
    Element,
    EpisodeReward,
    MiniWoBConfig,
    MiniWoBWorkflow,
    Observation,
    chromium_paths,
    color_name,
    date_value,
    miniwob_agent,
    miniwob_task,
    time_value,
)
from agentscale.rollout import RolloutContext
from agentscale.testing import FakeModel, FunctionModel, tool_call
from agentscale.types import Rollout
from agentscale.workflows import WorkflowEnv

browser = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
async def pool():
    try:
        chromium_paths()
    except ConfigError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{exc} -- CI=true, so browser tests must not skip")
        pytest.skip(str(exc))
    async with BrowserPool(size=1) as browsers:
        yield browsers


def page_of(call) -> str:
    """The latest page the model was shown (the first prompt, or the last observation)."""
    return next(str(m["content"]) for m in reversed(call.prompt) if "Task:" in str(m.get("content")))


def act(name, **arguments):
    return {"content": "", "tool_calls": [tool_call(name, arguments)]}


def solver(call):
    """A scripted policy for click-button, enter-text and login-user: finds the right elements by reading."""
    page = page_of(call)
    if "episode is over" in page:
        return act("final_answer", answer="done")
    task = next(line for line in page.split("\n") if line.startswith("Task:"))
    refs = {m.group(2) or m.group(3): int(m.group(1))
            for m in re.finditer(r'^\[(\d+)\] \S+(?: #(\S+))?(?: "([^"]*)")?', page, re.M)}
    if (m := re.search(r'Click on the "(.+)" button', task)):
        return act("click", ref=refs[m.group(1)])
    if (m := re.search(r"Enter (.+) as the (?:date|time)", task)):  # enter-date, enter-time
        if "#tt value=" not in page:
            return act("type_text", ref=refs["tt"], text=m.group(1))
        return act("click", ref=refs["subbtn"])
    if (m := re.search(r'Enter "(.+)" into the text field', task)):
        if "#tt value=" not in page:
            return act("type_text", ref=refs["tt"], text=m.group(1))
        return act("click", ref=refs["subbtn"])
    if (m := re.search(r"Select (.+) from the (?:scroll )?list", task)):  # choose-list, click-scroll-list
        chosen = re.search(r"^\[\d+\] select #\w+ value='([^']*)'", page, re.M)
        for name in m.group(1).split(", "):  # the scroll list may ask for several
            if name not in (chosen.group(1).split(", ") if chosen else []):
                return act("type_text", ref=int(re.search(r"^\[(\d+)\] select", page, re.M).group(1)), text=name)
        return act("click", ref=int(re.search(r'^\[(\d+)\] button "Submit"', page, re.M).group(1)))
    if (m := re.search(r"Click on the (\w+) colored box", task)):  # click-color: boxes known by colour only
        return act("click", ref=int(re.search(rf"^\[(\d+)\] div .color color={m.group(1)}$", page, re.M).group(1)))
    if (m := re.search(r'username "(.+)" and the password "(.+)"', task)):
        if "#username value=" not in page:
            return act("type_text", ref=refs["username"], text=m.group(1))
        if "#password value=" not in page:
            return act("type_text", ref=refs["password"], text=m.group(2))
        return act("click", ref=refs["subbtn"])
    return act("final_answer", answer="I cannot do this one")


@pytest.mark.parametrize(("name", "seed"), [
    ("click-button", 3), ("enter-text", 3), ("login-user", 3), ("choose-list", 3), ("click-color", 3),
    ("click-scroll-list", 5),  # seed 5 asks for two names
    ("enter-date", 3), ("enter-time", 3),  # "10/11/2011" typed; "8:04 PM" set as the field holds it
])
@pytest.mark.slow
@pytest.mark.browser
async def test_a_scripted_policy_gets_the_reward(pool, name, seed):
    agent = miniwob_agent(FunctionModel(solver), pool, MiniWoBConfig(actions="tools"))
    rollout = await agent(miniwob_task(name, seed=seed), RolloutContext())
    assert rollout.status == "ok" and rollout.metadata["done"] and rollout.metadata["reward"] == 1.0
    assert rollout.output == "done" and rollout.answer.startswith(("click", "type"))
    verdict = await EpisodeReward().verify(miniwob_task(name, seed), rollout)
    assert verdict.passed and verdict.score == 1.0
    shown = rollout.trajectory[1]["content"]  # the first prompt holds the instruction and the elements
    assert "Task: " in shown and "Elements ([ref]" in shown


@pytest.mark.slow
@pytest.mark.browser
async def test_a_select_list_shows_its_options_and_a_wrong_one_is_a_readable_error(pool):
    agent = miniwob_agent(FakeModel([act("type_text", ref=4, text="Nobody"), act("type_text", ref=4, text=" bobine ")]),
                          pool, MiniWoBConfig(actions="tools", max_steps=2))
    rollout = await agent(miniwob_task("choose-list", seed=1), RolloutContext())  # "Select Bobine from the list"
    first = rollout.trajectory[1]["content"]
    assert re.search(r'^\[4\] select #options value=\'Aurora\' options: "Aurora", .*"Bobine"', first, re.M), first
    seen = [m["content"] for m in rollout.trajectory if m.get("role") == "tool"]
    assert seen[0].startswith("Error: [4] is a select list with no option 'Nobody'; its options are 'Aurora',")
    # clicking the list is answered with how to choose (a click opens nothing in a headless browser)
    agent = miniwob_agent(FakeModel([act("click", ref=4)]), pool, MiniWoBConfig(actions="tools", max_steps=1))
    rollout = await agent(miniwob_task("choose-list", seed=1), RolloutContext())
    assert rollout.trajectory[-1]["content"].endswith(
        "[4] is a select list: choose one of its options with type_text(ref=4, text=the option).")
    assert "[4] select #options value='Bobine'" in seen[1]  # case and spaces aside, the option is chosen


@pytest.mark.slow
@pytest.mark.browser
async def test_a_checkbox_is_named_by_its_label_and_clicking_the_label_ticks_it(pool):
    async with pool.lease() as browser:
        page = (await browser.begin("click-checkboxes", 1)).render()  # "Select DKkQH and click Submit."
        assert '[7] label "DKkQH"\n[8] input_checkbox #ch1 value=False' in page and "\ntext " not in page, page
        assert "[8] input_checkbox #ch1 value=True" in (await browser.click(7)).render()
        page = (await browser.begin("click-dialog", 1)).render()  # the close button: an icon and "Close"
        assert page.splitlines()[2] == '[7] button "Close" (focused)' and "#area" not in page, page


@pytest.mark.slow
@pytest.mark.browser
async def test_typing_into_a_button_is_refused_and_the_episode_goes_on(pool):
    # the 0.5B typed "Jerald" into Submit, which clicked it and lost the episode
    async with pool.lease() as browser:
        await browser.begin("enter-text", 1)  # [5] input_text #tt, [6] button #subbtn "Submit"
        with pytest.raises(ToolError, match=r'\[6\] is a button "Submit", not a field; type into a field: '
                                            r"\[5\] input_text #tt"):
            await browser.type(6, "Jerald")
        assert not (await browser.observe()).done
        assert "#tt value='Jerald'" in (await browser.type(5, "Jerald")).render()
        # typing again replaces the text (it was typed after it: "JeraldJerald" lost the episode)
        assert "#tt value='Jerald'" in (await browser.type(5, "Jerald")).render()
        assert (await browser.click(6)).raw_reward == 1.0


@pytest.mark.slow
@pytest.mark.browser
async def test_typing_into_text_that_is_not_a_field_is_refused_but_an_editor_takes_it(pool):
    async with pool.lease() as browser:
        page = (await browser.begin("simple-algebra", 1)).render()  # [6] span "x =", [7] input_text #math-answer
        assert '[6] span "x ="' in page, page
        with pytest.raises(ToolError, match=r'\[6\] is a span "x =", not a field; type into a field: '
                                            r"\[7\] input_text #math-answer"):
            await browser.type(6, "x =")  # the 0.5B did this; the keys went nowhere
        page = (await browser.begin("text-editor", 1)).render()  # a contenteditable editor's paragraph
        ref = int(re.search(r'^\[(\d+)\] p "', page, re.M).group(1))
        assert "Zorbl" in (await browser.type(ref, "Zorbl")).render()  # typed into the editor


@pytest.mark.slow
@pytest.mark.browser
async def test_a_click_with_text_types_it_and_a_key_pressed_on_a_button_presses_it(pool):
    # the 0.5B's ways of saying "type 10/11/2011 into [5]" and "press Submit [7]"
    replies = [act("click", ref=5, text="Jerald"), act("press_key", key="Enter", ref=6)]
    agent = miniwob_agent(FakeModel(replies), pool, MiniWoBConfig(actions="tools", max_steps=3))
    rollout = await agent(miniwob_task("enter-text", seed=1), RolloutContext())  # Enter "Jerald" ...
    assert rollout.metadata["actions"] == ['type 5 "Jerald"', "press enter 6"], rollout.trajectory
    assert rollout.metadata["done"] and rollout.metadata["reward"] == 1.0
    async with pool.lease() as browser:
        await browser.begin("enter-text", 1)
        with pytest.raises(ToolError, match=r"There is no element \[99\]"):
            await browser.press("Enter", 99)


@pytest.mark.slow
@pytest.mark.browser
async def test_the_wrong_click_loses_and_mistakes_are_observations(pool):
    task = miniwob_task("click-test-2", seed=1)  # "Click button ONE." with buttons ONE and TWO

    def wrong(call):
        page = page_of(call)
        turns = sum(1 for m in call.prompt if m.get("role") == "assistant")
        if turns == 0:
            return act("click", ref=999)
        if turns == 1:
            return act("press_key", key="hyperspace")
        if "episode is over" in page:
            return act("final_answer", answer="done")
        return act("click", ref=int(re.search(r'^\[(\d+)\] button #subbtn2 "TWO"', page, re.M).group(1)))

    rollout = await miniwob_agent(FunctionModel(wrong), pool, MiniWoBConfig(actions="tools"))(task, RolloutContext())
    seen = [m["content"] for m in rollout.trajectory if m.get("role") == "tool"]
    assert seen[0].startswith("Error: There is no element [999] on the page")
    assert seen[1].startswith("Error: Unknown key 'hyperspace'")
    assert "The episode is over: reward -1" in seen[2]
    assert rollout.metadata["reward"] == -1.0
    verdict = await EpisodeReward().verify(task, rollout)
    assert not verdict.passed and verdict.score == 0.0 and verdict.feedback.startswith("Reward -1")


@pytest.mark.slow
@pytest.mark.browser
async def test_an_unfinished_episode_scores_nothing(pool):
    model = FakeModel([act("press_key", key="Tab")], cycle=True)
    rollout = await miniwob_agent(model, pool, MiniWoBConfig(actions="tools", max_steps=2))(
        miniwob_task("click-button", 5), RolloutContext())
    assert rollout.metadata["stop"] == "steps" and not rollout.metadata["done"]
    assert not (await EpisodeReward().verify(miniwob_task("click-button", 5), rollout)).passed


@pytest.mark.slow
@pytest.mark.browser
async def test_rollouts_share_the_pool_under_scale(pool):
    task = miniwob_task("click-button", seed=7)
    graph = scale(miniwob_agent(FunctionModel(solver), pool, MiniWoBConfig(actions="tools")), "majority", n=3)
    state = await graph.ainvoke({"task": task}, context=ScaleContext())
    rollouts = state["rollouts"]
    assert len(rollouts) == 3 and all(r.metadata["reward"] == 1.0 for r in rollouts)
    assert len({r.answer for r in rollouts}) == 1  # same seed, same page, same refs: one action sequence
    assert state["selected"].status == "chosen"


@pytest.mark.slow
@pytest.mark.browser
async def test_an_unknown_task_is_a_failed_rollout(pool):
    graph = scale(miniwob_agent(FakeModel(["x"]), pool), "best_of_n", n=1, verifier=EpisodeReward())
    state = await graph.ainvoke({"task": miniwob_task("no-such-task")}, context=ScaleContext())
    assert state["rollouts"][0].status == "error" and "no MiniWoB++ task 'no-such-task'" in state["rollouts"][0].error


def test_workflow_tasks():
    wf = registry.create("workflows", "miniwob")
    assert wf.task("click-button:3").metadata == {"miniwob": "click-button", "seed": 3}
    assert wf.task({"task": "enter-text", "seed": 2}).id == "miniwob/enter-text/2"
    assert wf.task("focus-text").metadata["seed"] == 0
    for bad in ("click-button:x", "Click Button", {"seed": 1}, {"task": "a", "seed": "1"}):
        with pytest.raises(ConfigError):
            wf.task(bad)
    parts = wf.build(WorkflowEnv(model=FakeModel(["x"]), options={"browsers": 1, "max_steps": 3}))
    assert parts.agent.config.max_steps == 3 and parts.agent.browsers.size == 1
    with pytest.raises(ConfigError, match="bad miniwob options"):
        wf.build(WorkflowEnv(model=FakeModel(["x"]), options={"max_stepz": 3}))
    with pytest.raises(ConfigError, match="size >= 1"):
        BrowserPool(0)


async def test_episode_reward_of_failed_rollouts():
    failed = Rollout(task_id="t", status="error", error="boom", metadata={"reward": 1.0, "done": True})
    verdict = await EpisodeReward().verify(miniwob_task("click-button"), failed)
    assert not verdict.passed and verdict.feedback == "The rollout failed: boom."


def test_workflow_closes_its_pools():
    import asyncio

    wf = MiniWoBWorkflow()
    parts = wf.build(WorkflowEnv(model=FakeModel(["x"])))
    asyncio.run(wf.aclose())
    with pytest.raises(ConfigError, match="pool is closed"):
        asyncio.run(parts.agent.browsers.lease().__aenter__())


class StuckBrowsers:
    """A pool of one scripted page whose clicks never return (a page that hangs the browser);
    typing works. Control flow only: the real browser is exercised above."""

    def __init__(self) -> None:
        self.typed: list[tuple[int, str]] = []
        self.clicks = 0
        self.leases = 0

    @contextlib.asynccontextmanager
    async def lease(self):
        self.leases += 1
        yield self

    def page(self) -> Observation:
        return Observation(utterance="Enter \"Ann\" and press Submit.", elements=[
            Element(ref=2, tag="input_text", id="tt", value=self.typed[-1][1] if self.typed else None),
            Element(ref=3, tag="button", id="subbtn", text="Submit"),
        ])

    async def begin(self, name: str, seed: int) -> Observation:
        return self.page()

    async def observe(self) -> Observation:
        return self.page()

    async def click(self, ref: int) -> Observation:
        self.clicks += 1
        await asyncio.Event().wait()

    async def type(self, ref: int | None, text: str) -> Observation:
        self.typed.append((ref, text))
        return self.page()

    async def press(self, key: str) -> Observation:
        return self.page()


async def test_a_browser_action_that_hangs_is_stopped_and_the_episode_goes_on():
    model = FakeModel([act("click", ref=3), act("type_text", ref=2, text="Ann"), "done", "done"])
    browsers = StuckBrowsers()
    config = MiniWoBConfig(actions="tools", tool_timeout=0.3, max_steps=4)
    started = asyncio.get_running_loop().time()
    rollout = await miniwob_agent(model, browsers, config)(miniwob_task("enter-text", 1), RolloutContext())
    assert asyncio.get_running_loop().time() - started < 10 and browsers.clicks == 1
    seen = [m["content"] for m in rollout.trajectory[2:] if m.get("role") in ("tool", "user")]
    assert seen[0] == "Error: click timed out after 0.3 s and was stopped."
    assert "#tt value='Ann'" in seen[1] and browsers.typed == [(2, "Ann")]  # the next action still ran
    # "done" with the episode on: sent back every time; the step limit ends it
    assert seen[2].startswith("Error: the episode is not over") and seen[3] == seen[2]
    assert rollout.metadata["stop"] == "steps"
    assert rollout.status == "ok" and rollout.answer == 'type 2 "Ann"'  # the stopped click is not an action taken
    assert rollout.metadata["done"] is False
    assert not (await EpisodeReward().verify(miniwob_task("enter-text", 1), rollout)).passed


@pytest.mark.parametrize("actions", ["tools", "text"])
async def test_malformed_browser_actions_get_a_readable_error_and_the_step_limit_ends_it(actions):
    if actions == "tools":
        replies = [act("click", ref="the button"), {"content": "", "tool_calls": [tool_call("type_text", "{bad")]},
                   act("scroll", ref=3), act("press_key", key="")]
    else:
        replies = ['```click\n{"ref": "the button"}\n```', "```type_text\n{bad\n```", '```scroll\n{"ref": 3}\n```',
                   '```press_key\n{"key": ""}\n```']
    browsers = StuckBrowsers()
    config = MiniWoBConfig(actions=actions, max_steps=4)
    rollout = await miniwob_agent(FakeModel(replies), browsers, config)(miniwob_task("enter-text", 1), RolloutContext())
    role = "tool" if actions == "tools" else "user"
    seen = [m["content"] for m in rollout.trajectory[2:] if m.get("role") == role]
    assert len(seen) == 4 and all("Error: " in s for s in seen), seen
    assert "bad arguments for click: ref: 'the button' is not of type 'integer'" in seen[0]
    assert "not valid JSON" in seen[1] or "must be a JSON object" in seen[1]
    assert "unknown tool 'scroll'" in seen[2] and "key must name a key" in seen[3]
    assert browsers.clicks == 0 and browsers.typed == []  # nothing malformed reached the page
    assert rollout.status == "ok" and rollout.metadata["stop"] == "steps" and rollout.answer is None


def test_the_page_lists_what_can_be_read_or_acted_on_not_empty_containers():
    page = Observation(utterance="Click button ONE.", elements=[
        Element(ref=1, tag="body", leaf=False), Element(ref=2, tag="div", id="wrap", leaf=False),
        Element(ref=3, tag="div", id="area", leaf=False), Element(ref=4, tag="button", id="subbtn", text="ONE"),
        Element(ref=5, tag="div", id="swatch"), Element(ref=6, tag="label", leaf=False),
        Element(ref=7, tag="input_text", id="tt", value="Ann", focused=True),
        Element(ref=8, tag="div", id="area"), Element(ref=9, tag="span", id="ui-id-1"),
        Element(ref=10, tag="circle", id="(-2,1)"),
        Element(ref=11, tag="span", classes="star"), Element(ref=12, tag="div", classes="ui-resizable-handle ui-e"),
        Element(ref=13, tag="span", classes="spacer"),
    ])
    lines = page.render().splitlines()[2:]
    # #wrap and #area hold the page (small models clicked them first), also when empty (a dialog left
    # #area); jQuery UI's ids are generated; an empty leaf with an id that means something may be the
    # target, and so may an icon named by one word (email-inbox's star), not a widget's part or a spacer
    assert lines == ['[4] button #subbtn "ONE"', "[5] div #swatch", "[6] label",
                     "[7] input_text #tt value='Ann' (focused)", "[10] circle #(-2,1)", "[11] span .star"]


def test_menu_items_icons_and_text_areas_are_shown_by_what_tells_them_apart():
    from agentscale.graphs.web.browser import _flatten

    # click-menu: <div>Alvera<span class="ui-menu-icon"/></div> showed "Alvera" as text with no ref to click
    item = {"ref": 10, "tag": "DIV", "id": "ui-id-3", "children": [
        {"ref": 11, "tag": "SPAN", "text": "", "classes": "ui-menu-icon ui-icon"},
        {"ref": -2, "tag": "t", "text": "Alvera"}]}
    # a paragraph whose spans carry words of their own keeps them as its elements
    para = {"ref": 12, "tag": "P", "children": [
        {"ref": -3, "tag": "t", "text": "Cursus"}, {"ref": 13, "tag": "SPAN", "text": "justo."}]}
    page = Observation(utterance="Select Alvera>Terza", elements=_flatten({"ref": 1, "tag": "BODY", "children": [
        item, para]}))
    assert page.render().splitlines()[2:] == ['[10] div #ui-id-3 "Alvera"', 'text "Cursus"', '[13] span "justo."']
    # a spinner's arrows share their first classes: each is also named by the class only it has; a text
    # area's text is its value, shown once
    spinner = Observation(utterance="Select -7 with the spinner", elements=[
        Element(ref=7, tag="a", classes="ui-button ui-widget ui-spinner-up", leaf=False),
        Element(ref=9, tag="a", classes="ui-button ui-widget ui-spinner-down", leaf=False),
        Element(ref=16, tag="span", classes="star"), Element(ref=25, tag="span", classes="star"),
        Element(ref=26, tag="textarea", id="text-area", text="Cursus justo.", value="Cursus justo.  Rutrum.")])
    assert spinner.render().splitlines()[2:] == ["[7] a .ui-button.ui-spinner-up", "[9] a .ui-button.ui-spinner-down",
                                                 "[16] span .star", "[25] span .star",
                                                 "[26] textarea #text-area value='Cursus justo.  Rutrum.'"]


def test_times_are_read_as_a_time_field_holds_them():
    assert [time_value(t) for t in ("8:04 PM", "8:04PM", "12:30 am", "12:05 p.m.", "20:04", "07:15", "7 pm")] == [
        "20:04", "20:04", "00:30", "12:05", "20:04", "07:15", "19:00"]
    assert [time_value(t) for t in ("25:00", "13:00 PM", "8:75", "8", "noon", "")] == [None] * 6


def test_dates_are_read_as_a_date_field_holds_them():
    assert [date_value(t) for t in ("10/11/2011", "2011-10-11", "10-11-2011", "Oct 11, 2011", "11 October 2011",
                                    "March 5th, 2016", "25/12/2020", "2011/10/11")] == [
        "2011-10-11"] * 5 + ["2016-03-05", "2020-12-25", "2011-10-11"]
    assert [date_value(t) for t in ("2/30/2020", "13/13/2020", "Foo 1 2020", "tomorrow", "", "10/11")] == [None] * 6


@pytest.mark.slow
@pytest.mark.browser
async def test_a_date_field_takes_the_date_however_it_is_written(pool):
    # typed key by key, "2011-10-11" became 11011-02-01 and "10/11/2011" after it left the field empty
    async with pool.lease() as browser:
        for text in ("2011-10-11", "Oct 11, 2011", "10/11/2011"):
            await browser.begin("enter-date", 1)  # "Enter 10/11/2011 as the date and hit submit."
            assert "[5] input_date #tt value='2011-10-11'" in (await browser.type(5, text)).render(), text
        assert (await browser.click(6)).raw_reward == 1.0
        await browser.begin("enter-date", 1)
        with pytest.raises(ToolError, match=r"\[5\] is a date field: type a date like 10/11/2011"):
            await browser.type(5, "soon")


def test_colour_boxes_are_listed_by_the_name_a_task_would_use():
    # click-color, click-shades: empty boxes known only by their background colour
    assert [color_name(c) for c in ("rgb(128, 128, 128)", "rgb(255, 165, 0)", "rgba(0, 0, 0, 0)", "transparent")] == [
        "grey", "orange", "", ""]
    assert color_name("rgb(195, 80, 80)") == "rgb(195, 80, 80) (red)"
    assert color_name("rgb(154, 154, 208)").endswith("(blue)") and color_name("rgb(210, 233, 210)").endswith("(green)")
    assert color_name("rgb(239, 239, 239)").endswith("(white)") and color_name("rgb(90, 90, 94)").endswith("(grey)")
    page = Observation(utterance="Click on the grey colored box.", elements=[
        Element(ref=4, tag="div", classes="color", color="olive"),
        Element(ref=5, tag="div", classes="color", color="grey"),
        Element(ref=6, tag="div", classes="ui-helper-clearfix"),  # no colour, text, id or icon: nothing there
        Element(ref=7, tag="select", id="opts", value="B", options=("A", "B")),
    ])
    assert page.render().splitlines()[2:] == ["[4] div .color color=olive", "[5] div .color color=grey",
                                              "[7] select #opts value='B' options: \"A\", \"B\""]


async def test_the_episode_ends_the_rollout_and_a_done_before_it_is_sent_back():
    # the 1.5B called final_answer("done") as its first action on half of the tasks: no final-answer
    # tool is offered, a reply saying it is done is sent back, and the click that ends the episode
    # ends the rollout (no step spent saying so)
    class OneClickPage(StuckBrowsers):
        async def click(self, ref: int) -> Observation:
            self.clicks += 1
            return Observation(utterance="Click Submit.", done=True, reward=1.0, raw_reward=1.0)

        async def observe(self) -> Observation:
            return await self.click(0) if self.clicks else self.page()

    model = FakeModel(["I am done.", act("click", ref=3)])
    rollout = await miniwob_agent(model, OneClickPage(), MiniWoBConfig(actions="tools"))(
        miniwob_task("click-button", 1), RolloutContext())
    assert [t["function"]["name"] for t in model.calls[0].tools] == ["click", "type_text", "press_key"]
    assert rollout.trajectory[3]["content"].startswith("Error: the episode is not over: the task on the page")
    assert len(model.calls) == 2 and rollout.metadata["stop"] == "final" and rollout.output == "done"
    assert "The episode is over: reward 1" in rollout.trajectory[-1]["content"]
    assert rollout.answer == "click 3" and rollout.metadata["done"] and rollout.metadata["reward"] == 1.0
    # with no refusals allowed the first "done" ends it, unfinished
    model = FakeModel(["done"])
    rollout = await miniwob_agent(model, OneClickPage(), MiniWoBConfig(actions="tools", final_refusals=0))(
        miniwob_task("click-button", 1), RolloutContext())
    assert rollout.answer is None and rollout.metadata["done"] is False
