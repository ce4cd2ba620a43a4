"""The web workflows: a browsing agent on real pages over HTTP, and MiniWoB++ tasks in a browser.

- ``WebSession`` and the web tools (``open_url``, ``follow_link``, ``find_in_page``,
  ``submit_form``, ``go_back``), with limits on pages, bytes and seconds, and loopback-only
  hosts by default;
- ``WebAgent`` / ``web_agent`` / ``build_web_graph``: the shared agent loop with those tools, one
  session per rollout; ``WebWorkflow`` (registry name ``web``);
- ``ObservedAnswer`` (selection: the answer is on a page the rollout read) and ``WebAnswerScorer``
  (scoring against the expected answer);
- ``SiteServer``: a small site of linked pages on 127.0.0.1 with ``SITE_QUESTIONS``;
- MiniWoB++: ``Browser``/``BrowserPool`` (headless Chromium, offline), ``MiniWoBAgent`` with the
  browser tools (``click``, ``type_text``, ``press_key``), ``EpisodeReward``, ``MiniWoBWorkflow``
  (registry name ``miniwob``). Selenium is imported only when a browser starts.
"""

from agentscale.graphs.web.agent import (
    WEB_SYSTEM,
    WebAgent,
    WebConfig,
    WebState,
    build_web_graph,
    leads_note,
    link_named,
    short_answer,
    web_agent,
)
from agentscale.graphs.web.browser import (
    CHROME_FLAGS,
    Browser,
    BrowserPool,
    Element,
    Observation,
    chromium_paths,
    color_name,
    date_value,
    time_value,
)
from agentscale.graphs.web.miniwob import (
    MINIWOB_SYSTEM,
    MINIWOB_TASKS,
    EpisodeReward,
    MiniWoBAgent,
    MiniWoBConfig,
    MiniWoBState,
    MiniWoBWorkflow,
    browser_tools,
    build_miniwob_graph,
    miniwob_agent,
    miniwob_task,
)
from agentscale.graphs.web.session import HostPolicy, Page, WebLimits, WebSession
from agentscale.graphs.web.site import SITE_DIR, SITE_QUESTIONS, SiteServer, load_site_questions, site_tasks, web_task
from agentscale.graphs.web.tools import FindInPage, FollowLink, GoBack, OpenURL, SubmitForm, web_tools
from agentscale.graphs.web.verify import ObservedAnswer, WebAnswerScorer, observations_of
from agentscale.graphs.web.workflow import WebWorkflow

__all__ = [
    "CHROME_FLAGS",
    "MINIWOB_SYSTEM",
    "MINIWOB_TASKS",
    "Browser",
    "BrowserPool",
    "Element",
    "EpisodeReward",
    "MiniWoBAgent",
    "MiniWoBConfig",
    "MiniWoBState",
    "MiniWoBWorkflow",
    "Observation",
    "WebState",
    "browser_tools",
    "build_miniwob_graph",
    "chromium_paths",
    "color_name",
    "date_value",
    "time_value",
    "miniwob_agent",
    "miniwob_task",
    "WEB_SYSTEM",
    "ObservedAnswer",
    "WebAgent",
    "WebAnswerScorer",
    "WebConfig",
    "WebWorkflow",
    "build_web_graph",
    "leads_note",
    "link_named",
    "observations_of",
    "short_answer",
    "web_agent",
    "SITE_DIR",
    "SITE_QUESTIONS",
    "FindInPage",
    "FollowLink",
    "GoBack",
    "HostPolicy",
    "OpenURL",
    "Page",
    "SiteServer",
    "SubmitForm",
    "WebLimits",
    "WebSession",
    "load_site_questions",
    "site_tasks",
    "web_task",
    "web_tools",
]
