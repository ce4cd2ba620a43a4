"""The web workflows: a browsing agent on real pages over HTTP, and MiniWoB++ tasks in a browser.

- ``WebSession`` and the web tools (``open_url``, ``follow_link``, ``find_in_page``,
  ``submit_form``, ``go_back``), with limits on pages, bytes and seconds, and loopback-only
  hosts by default;
- ``SiteServer``: a small site of linked pages on 127.0.0.1 with ``SITE_QUESTIONS``;
"""

from agentscale.graphs.web.session import HostPolicy, Page, WebLimits, WebSession
from agentscale.graphs.web.site import SITE_DIR, SITE_QUESTIONS, SiteServer, load_site_questions, site_tasks, web_task
from agentscale.graphs.web.tools import FindInPage, FollowLink, GoBack, OpenURL, SubmitForm, web_tools

__all__ = [
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
